package osdetect_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/osdetect"
)

const qga = "../testdata/qga/"

// withOSInfo answers guest-get-osinfo with reply and passes every other
// request to next.
func withOSInfo(reply string, next guestagent.Transport) guestagent.Transport {
	return guestagent.TransportFunc(func(ctx context.Context, req []byte) ([]byte, error) {
		if strings.Contains(string(req), `"guest-get-osinfo"`) {
			return []byte(reply), nil
		}
		return next.Command(ctx, req)
	})
}

func TestDetect(t *testing.T) {
	noID := `{"return": {"kernel-release": "6.1.0-13-amd64", "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)", "machine": "x86_64"}}`
	tests := []struct {
		name      string
		transport func(t *testing.T) guestagent.Transport
		want      osdetect.Info
		wantErr   error // nil: no error; errAny: some error
	}{
		{
			name:      "linux osinfo",
			transport: func(t *testing.T) guestagent.Transport { return agenttest.Replay(t, qga+"linux-basic.jsonl") },
			want:      osdetect.Info{Family: osdetect.Linux, ID: "debian", Name: "Debian GNU/Linux 12 (bookworm)", Version: "12", Source: "osinfo"},
		},
		{
			name: "windows server 2022 osinfo",
			transport: func(t *testing.T) guestagent.Transport {
				return agenttest.Replay(t, qga+"windows-osinfo-server2022.jsonl")
			},
			want: osdetect.Info{Family: osdetect.Windows, ID: "mswindows", Name: "Windows Server 2022 Datacenter", Version: "10.0.20344", Source: "osinfo"},
		},
		{
			name:      "windows 11 osinfo",
			transport: func(t *testing.T) guestagent.Transport { return agenttest.Replay(t, qga+"windows-osinfo-win11.jsonl") },
			want:      osdetect.Info{Family: osdetect.Windows, ID: "mswindows", Name: "Windows 10 Pro", Version: "11", Source: "osinfo"},
		},
		{
			name: "linux without os-release: cmd.exe cannot be spawned",
			transport: func(t *testing.T) guestagent.Transport {
				return withOSInfo(noID, agenttest.Replay(t, qga+"linux-spawn-failure.jsonl"))
			},
			want: osdetect.Info{Family: osdetect.Linux, Source: "probe"},
		},
		{
			name:      "windows agent without osinfo: ver",
			transport: func(t *testing.T) guestagent.Transport { return agenttest.Replay(t, qga+"windows-probe.jsonl") },
			want:      osdetect.Info{Family: osdetect.Windows, ID: "mswindows", Name: "Microsoft Windows", Version: "10.0.19045.5011", Source: "probe"},
		},
		{
			name: "probe with guest-exec disabled",
			transport: func(t *testing.T) guestagent.Transport {
				return withOSInfo(noID, agenttest.Replay(t, qga+"linux-exec-disabled.jsonl"))
			},
			want:    osdetect.Info{Family: osdetect.Unknown, Source: "probe"},
			wantErr: guestagent.ErrCommandDisabled,
		},
		{
			name: "agent unresponsive: no probe",
			transport: func(t *testing.T) guestagent.Transport {
				return agenttest.New(func(cmd string, _ json.RawMessage) (any, error) {
					if cmd != "guest-get-osinfo" {
						t.Errorf("unexpected command %s", cmd)
					}
					return nil, guestagent.ErrUnresponsive
				})
			},
			want:    osdetect.Info{Family: osdetect.Unknown},
			wantErr: guestagent.ErrUnresponsive,
		},
		{
			name: "cmd.exe runs but is not Windows",
			transport: func(t *testing.T) guestagent.Transport {
				wine := agenttest.Exited(guestagent.ExecStatus{ExitCode: intp(0), Stdout: []byte("wine\n")})
				return probeGuest(func(guestagent.Command) agenttest.Process { return wine })
			},
			want:    osdetect.Info{Family: osdetect.Unknown, Source: "probe"},
			wantErr: errAny,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := guestagent.New(tt.transport(t))
			got, err := osdetect.Detect(context.Background(), c)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("Detect() error = %v", err)
			case tt.wantErr == errAny && err == nil:
				t.Errorf("Detect() error = nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("Detect() error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Detect() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

// probeGuest is an agent whose guest-get-osinfo has no id and whose
// guest-exec starts what start returns.
func probeGuest(start func(guestagent.Command) agenttest.Process) guestagent.Transport {
	g := &agenttest.Guest{
		Next: agenttest.Returns(nil),
		Spawn: func(cmd guestagent.Command) (agenttest.Process, error) {
			return start(cmd), nil
		},
	}
	return agenttest.New(g.Answer)
}

func TestIsSpawnFailure(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&guestagent.Error{Class: "GenericError", Desc: "Guest agent command failed, error was 'Failed to execute child process “cmd.exe” (No such file or directory)'"}, true},
		// GLib's message translated, QEMU's prefix not.
		{&guestagent.Error{Class: "GenericError", Desc: "Guest agent command failed, error was 'Fehler beim Ausführen des Kindprozesses »cmd.exe« (Datei oder Verzeichnis nicht gefunden)'"}, true},
		{&guestagent.Error{Class: "CommandNotFound", Desc: "Command guest-exec has been disabled"}, false},
		{&guestagent.Error{Class: "GenericError", Desc: "Invalid parameter 'pid'"}, false},
		{guestagent.ErrUnresponsive, false},
	}
	for _, tt := range tests {
		if got := osdetect.IsSpawnFailure(tt.err); got != tt.want {
			t.Errorf("IsSpawnFailure(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// Detect must not take longer than its context allows when the probe hangs.
func TestDetectProbeDeadline(t *testing.T) {
	running := func() guestagent.ExecStatus { return guestagent.ExecStatus{} }
	c := guestagent.New(probeGuest(func(guestagent.Command) agenttest.Process { return running }))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	info, err := osdetect.Detect(ctx, c)
	if !errors.Is(err, guestagent.ErrExecTimeout) || info.Family != osdetect.Unknown {
		t.Errorf("Detect() = %+v, %v; want Unknown and ErrExecTimeout", info, err)
	}
}
