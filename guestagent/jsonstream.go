package guestagent

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// maxSkipDepth is how deeply nested a value the decoders skip over; an
// agent has no reason to nest deeper, and json.Decoder keeps a stack entry
// per level.
const maxSkipDepth = 32

// stream reads an untrusted JSON value token by token with encoding/json's
// Decoder, so a decoder keeps only what it asks for and can stop at its cap:
// memory follows what vmcheck keeps, not what the guest sent. The Decoder
// buffers one scalar or one element at a time, never the whole array.
type stream struct {
	dec *json.Decoder
}

func newStream(raw []byte) *stream {
	return &stream{dec: json.NewDecoder(bytes.NewReader(raw))}
}

// delim reads the next token and fails unless it is the delimiter d.
func (s *stream) delim(d json.Delim) error {
	tok, err := s.dec.Token()
	if err != nil {
		return fmt.Errorf("malformed return value: %w", err)
	}
	if tok != d {
		return fmt.Errorf("malformed return value: want %v, got %s", d, describe(tok))
	}
	return nil
}

// object reads an object, calling field for each member with the member's
// name; field must consume the member's value (value or skip).
func (s *stream) object(field func(key string) error) error {
	if err := s.delim('{'); err != nil {
		return err
	}
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return fmt.Errorf("malformed return value: %w", err)
		}
		key, _ := tok.(string)
		if err := field(key); err != nil {
			return err
		}
	}
	return s.delim('}')
}

// array reads an array, calling elem for each of its first max elements;
// elem must consume the element. When the array has more, array stops
// reading there and reports truncated: the rest of the value is never
// looked at.
func (s *stream) array(max int, elem func(i int) error) (truncated bool, err error) {
	if err := s.delim('['); err != nil {
		return false, err
	}
	for i := 0; s.dec.More(); i++ {
		if i == max {
			return true, nil
		}
		if err := elem(i); err != nil {
			return false, err
		}
	}
	return false, s.delim(']')
}

// value decodes the next value into v, which should be a scalar or a small
// struct of scalars: json.Decoder buffers the whole value first.
func (s *stream) value(key string, v any) error {
	if err := s.dec.Decode(v); err != nil {
		return fmt.Errorf("%q: %w", key, err)
	}
	return nil
}

// skip consumes the next value without keeping it.
func (s *stream) skip() error {
	depth := 0
	for {
		tok, err := s.dec.Token()
		if err != nil {
			return fmt.Errorf("malformed return value: %w", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > maxSkipDepth {
				return fmt.Errorf("malformed return value: nested deeper than %d levels", maxSkipDepth)
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// describe names a token for an error message without echoing guest text.
func describe(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%v", tok)
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	}
	return "a number"
}
