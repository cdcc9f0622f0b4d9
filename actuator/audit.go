package actuator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/atomicfile"
)

// AuditFile is the audit log's name in the state directory when Options
// names none.
const AuditFile = "actuator-audit.log"

// Record is one line of the audit log.
type Record struct {
	Time        time.Time `json:"time"`
	Source      Source    `json:"source"`
	Who         string    `json:"who,omitempty"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	Action      Action    `json:"action"`
	Target      Target    `json:"target"`
	Weight      *int      `json:"weight,omitempty"`
	Hold        string    `json:"hold,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Rule        string    `json:"rule,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Force       bool      `json:"force,omitempty"`
	Result      Result    `json:"result"`
	Guard       Guard     `json:"guard,omitempty"`
	// Message says why the action was refused or was a no-op.
	Message string `json:"message,omitempty"`
	// Error is a failure's error.
	Error string `json:"error,omitempty"`
}

// Audit is an append-only log of JSON lines. Every Append is written and
// fsync'd before it returns. The file is opened for each record, so
// rotating it by renaming is safe.
type Audit struct {
	path string
	mu   sync.Mutex
}

// OpenAudit returns the audit log at path, creating its directory.
func OpenAudit(path string) (*Audit, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating audit log directory: %w", err)
	}
	return &Audit{path: path}, nil
}

// Path is the log's file.
func (a *Audit) Path() string { return a.path }

// Append writes r as one line and syncs it (and the directory, when the
// file is new). A line torn by a crash is ended first, so it stays a line
// of its own that readers skip.
func (a *Audit) Append(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding audit record: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	_, statErr := os.Stat(a.path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(a.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("opening audit log: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing audit log: %w", err)
	}
	if created {
		if err := atomicfile.SyncDir(filepath.Dir(a.path)); err != nil {
			return fmt.Errorf("syncing audit log directory: %w", err)
		}
	}
	return nil
}

// tailChunk is how much Tail reads at a time, from the end (a variable
// for FuzzAuditTail, which makes it small).
var tailChunk int64 = 64 << 10

// Tail returns the last n records, oldest first. Lines that do not parse
// (torn by a crash) are skipped. A missing log has no records.
func (a *Audit) Tail(n int) ([]Record, error) {
	if n <= 0 {
		return []Record{}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.Open(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return []Record{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	// Read chunks from the end; carry is the part of a line that began
	// before the chunk just read.
	out := []Record{} // newest first
	var carry []byte
	pos := fi.Size()
	for pos > 0 && len(out) < n {
		size := min(tailChunk, pos)
		pos -= size
		buf := make([]byte, size, size+int64(len(carry)))
		if _, err := f.ReadAt(buf, pos); err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading audit log: %w", err)
		}
		lines := bytes.Split(append(buf, carry...), []byte{'\n'})
		first := 0
		if pos > 0 {
			first, carry = 1, lines[0]
		}
		for i := len(lines) - 1; i >= first && len(out) < n; i-- {
			var r Record
			if len(bytes.TrimSpace(lines[i])) == 0 || json.Unmarshal(lines[i], &r) != nil {
				continue
			}
			out = append(out, r)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
