package sandbox

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus-dds/dds/internal/flagval"
)

// Limits bound every run of a Runtime. Zero fields take the defaults.
type Limits struct {
	MemoryPages uint32        // linear memory of one instance, in 64 KiB pages; default 1024 (64 MiB)
	Timeout     time.Duration // wall-clock time of one run; default 10s
	MaxOutput   int64         // bytes a run may write to stdout; default 1 GiB; <0 unlimited
	MaxStderr   int           // bytes of stderr kept; default 16 KiB (the rest is dropped)
	Concurrency int           // runs at once; default 8
	QueueWait   time.Duration // how long a run waits for a free slot; default Timeout
	MaxModule   int64         // size of a module's bytes; default 64 MiB
}

// DefaultLimits returns the defaults. QueueWait stays zero: it follows
// Timeout, whatever the flags make of that.
func DefaultLimits() Limits {
	return Limits{MemoryPages: 1024, Timeout: 10 * time.Second, MaxOutput: 1 << 30, MaxStderr: 16 << 10, Concurrency: 8, MaxModule: 64 << 20}
}

func (l *Limits) defaults() {
	d := DefaultLimits()
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxOutput == 0 {
		l.MaxOutput = d.MaxOutput
	}
	if l.MaxStderr <= 0 {
		l.MaxStderr = d.MaxStderr
	}
	if l.Concurrency <= 0 {
		l.Concurrency = d.Concurrency
	}
	if l.QueueWait <= 0 {
		l.QueueWait = l.Timeout
	}
	if l.MaxModule <= 0 {
		l.MaxModule = d.MaxModule
	}
}

// RegisterFlags registers the limits of storlet runs, each defaulting to l's
// current value.
func (l *Limits) RegisterFlags(fs *flag.FlagSet) {
	fs.Func("storlet-memory", fmt.Sprintf("memory of one storlet run, in MiB (default %d, at most 4096)", uint64(l.MemoryPages)*PageSize>>20), func(s string) error {
		mib, err := strconv.ParseUint(s, 10, 32)
		if err != nil || mib == 0 || mib > 4096 {
			return fmt.Errorf("want a whole number of MiB from 1 to 4096")
		}
		l.MemoryPages = uint32(mib << 20 / PageSize)
		return nil
	})
	fs.DurationVar(&l.Timeout, "storlet-timeout", l.Timeout, "wall-clock time one storlet run may take")
	fs.Var(flagval.Bytes(&l.MaxOutput), "storlet-max-output", "most one storlet run may write (bytes, or with a unit: 1GiB)")
	fs.IntVar(&l.Concurrency, "storlet-concurrency", l.Concurrency, "storlet runs at once; more wait (up to the timeout), then get 503")
	fs.Var(flagval.Bytes(&l.MaxModule), "storlet-max-module", "largest storlet module accepted (bytes, or with a unit: 64MiB)")
}
