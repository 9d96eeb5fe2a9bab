package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus-dds/dds/internal/sandbox"
)

// storletFlags are the limits of storlet runs.
func storletFlags(fs *flag.FlagSet, lim *sandbox.Limits) {
	fs.Func("storlet-memory", "memory of one storlet run, in MiB (default 64, at most 4096)", func(s string) error {
		mib, err := strconv.ParseUint(s, 10, 32)
		if err != nil || mib == 0 || mib > 4096 {
			return fmt.Errorf("want a whole number of MiB from 1 to 4096")
		}
		lim.MemoryPages = uint32(mib << 20 / sandbox.PageSize)
		return nil
	})
	fs.DurationVar(&lim.Timeout, "storlet-timeout", 10*time.Second, "wall-clock time one storlet run may take")
	fs.Int64Var(&lim.MaxOutput, "storlet-max-output", 1<<30, "bytes one storlet run may write")
	fs.IntVar(&lim.Concurrency, "storlet-concurrency", 8, "storlet runs at once; more wait (up to the timeout), then get 503")
	fs.Int64Var(&lim.MaxModule, "storlet-max-module", 64<<20, "largest storlet module accepted, in bytes")
}
