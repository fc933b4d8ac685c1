package metrics

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/vmcheck/vmcheck/exporter/history"
)

// Handler serves /metrics for `vmcheck serve`: the Collector cached, the
// others gathered afresh.
//
// The Collector's metrics are a function of the History's snapshot alone,
// which changes once per check, not once per scrape; with a thousand VMs
// they are 15 000 samples, and gathering, encoding and compressing them
// costs about 20 ms and 5 MB of garbage per scrape. So they are gathered,
// encoded in the text format and compressed once per snapshot (and
// format), and every scrape adds only the other metrics (Gatherer: Go
// runtime, process), gathered afresh. A gzip response is one gzip member:
// the others' text in stored (uncompressed) deflate blocks, then the
// cached compressed blocks, then a trailer over both. Requests for another format than the text format
// (protobuf) are served by promhttp over both, uncached.
type Handler struct {
	h        *history.History
	vm       *prometheus.Registry // the Collector alone
	others   prometheus.Gatherer  // may be nil
	fallback http.Handler

	mu     sync.Mutex
	cached *encodedMetrics
}

// encodedMetrics is the Collector's output for one snapshot and format,
// kept compressed only (about 7 % of the text).
type encodedMetrics struct {
	snap     *history.Snapshot
	format   expfmt.Format
	deflated []byte // raw deflate of the text, ending with a final block
	crc      uint32 // CRC-32 of the text
	size     int    // length of the text
}

// NewHandler returns the /metrics handler of c, a Collector over h, and
// others (Go runtime, process; nil for none), which must not include c.
func NewHandler(h *history.History, c *Collector, others prometheus.Gatherer) *Handler {
	vm := prometheus.NewRegistry()
	vm.MustRegister(c)
	all := prometheus.Gatherers{vm}
	if others != nil {
		all = append(all, others)
	}
	return &Handler{
		h: h, vm: vm, others: others,
		fallback: promhttp.HandlerFor(all, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}
}

// gzip member header (RFC 1952): magic, deflate, no flags, no mtime, no
// extra flags, OS unknown.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// ServeHTTP serves the metrics in the format the request negotiates.
func (m *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.Negotiate(r.Header)
	if format.FormatType() != expfmt.TypeTextPlain {
		m.fallback.ServeHTTP(w, r)
		return
	}
	cached, err := m.encoded(format)
	if err != nil {
		m.fallback.ServeHTTP(w, r)
		return
	}
	// The others first: promhttp sorts families by name, and go_* and
	// process_* come before vmcheck_*.
	var head bytes.Buffer
	if m.others != nil {
		mfs, _ := m.others.Gather() // like promhttp.ContinueOnError: serve what was gathered
		enc := expfmt.NewEncoder(&head, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				break
			}
		}
	}
	w.Header().Set("Content-Type", string(format))
	if !acceptsGzip(r) {
		_, _ = w.Write(head.Bytes())
		fr := flate.NewReader(bytes.NewReader(cached.deflated))
		_, _ = io.Copy(w, fr)
		_ = fr.Close()
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	out := make([]byte, 0, len(gzipHeader)+head.Len()+5*(head.Len()/0xffff+1)+len(cached.deflated)+8)
	out = append(out, gzipHeader...)
	out = appendStored(out, head.Bytes())
	out = append(out, cached.deflated...)
	out = binary.LittleEndian.AppendUint32(out, crc32Combine(crc32.ChecksumIEEE(head.Bytes()), cached.crc, cached.size))
	out = binary.LittleEndian.AppendUint32(out, uint32(head.Len()+cached.size))
	_, _ = w.Write(out)
}

// appendStored appends p as non-final stored deflate blocks (RFC 1951
// 3.2.4): the few kilobytes of runtime metrics are not worth a compressor
// (whose state is about a megabyte) on every scrape. The stream must be
// at a byte boundary, as it is right after the gzip header.
func appendStored(out, p []byte) []byte {
	for len(p) > 0 {
		n := min(len(p), 0xffff)
		out = append(out, 0) // BFINAL 0, BTYPE 00, padding
		out = binary.LittleEndian.AppendUint16(out, uint16(n))
		out = binary.LittleEndian.AppendUint16(out, ^uint16(n))
		out = append(out, p[:n]...)
		p = p[n:]
	}
	return out
}

// encoded returns the Collector's metrics for the current snapshot in
// format, encoding them if the snapshot or the format changed.
func (m *Handler) encoded(format expfmt.Format) (*encodedMetrics, error) {
	snap := m.h.Snapshot()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.cached; c != nil && c.snap == snap && c.format == format {
		return c, nil
	}
	mfs, err := m.vm.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering vmcheck metrics: %w", err)
	}
	// Encode straight into the compressor: the text itself is never held.
	var deflated bytes.Buffer
	if m.cached != nil {
		deflated.Grow(len(m.cached.deflated) + len(m.cached.deflated)/8)
	}
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	crc := crc32.NewIEEE()
	cw := &countingWriter{w: io.MultiWriter(fw, crc)}
	enc := expfmt.NewEncoder(cw, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("compressing vmcheck metrics: %w", err)
	}
	m.cached = &encodedMetrics{snap: snap, format: format, deflated: deflated.Bytes(), crc: crc.Sum32(), size: cw.n}
	return m.cached, nil
}

// countingWriter counts what goes through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// crc32Combine returns the CRC-32 (IEEE) of a‖b from crcA, crcB and the
// length of b, as zlib's crc32_combine does: crcA is carried through lenB
// zero bytes by GF(2) matrix squaring, then crcB is added.
func crc32Combine(crcA, crcB uint32, lenB int) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32 // operators for 2^n zero bits
	odd[0] = 0xedb88320      // the reversed IEEE polynomial: one zero bit
	row := uint32(1)
	for i := 1; i < 32; i++ {
		odd[i] = row
		row <<= 1
	}
	gf2Square(even[:], odd[:]) // two zero bits
	gf2Square(odd[:], even[:]) // four zero bits
	for n := lenB; ; {
		gf2Square(even[:], odd[:]) // first pass: one zero byte
		if n&1 != 0 {
			crcA = gf2Times(even[:], crcA)
		}
		if n >>= 1; n == 0 {
			break
		}
		gf2Square(odd[:], even[:])
		if n&1 != 0 {
			crcA = gf2Times(odd[:], crcA)
		}
		if n >>= 1; n == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat []uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}

// acceptsGzip reports whether promhttp would answer the request with gzip:
// of its offers identity and gzip, in that order, the first that an
// Accept-Encoding entry names (or "*" covers) with the highest q-value,
// unless that q-value is 0.
func acceptsGzip(r *http.Request) bool {
	best, bestQ := "identity", -1.0
	for _, offer := range []string{"identity", "gzip"} {
		for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
			value, params, _ := strings.Cut(part, ";")
			value = strings.ToLower(strings.TrimSpace(value))
			if value == "" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			if q > bestQ && (value == "*" || value == offer) {
				best, bestQ = offer, q
			}
		}
	}
	return best == "gzip" && bestQ != 0
}
