package main

import (
	"flag"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/internal/compute"
)

// computeFlags configure compute-to-data.
func computeFlags(fs *flag.FlagSet, c *compute.Config) {
	fs.Func("compute-env", `a compute environment, repeatable (several may also be separated by ";"): `+
		`"id=wasm,memory=256,max-jobs=2,max-duration=10m,max-input=1GiB,max-output=256MiB,price-min=0,desc=..." `+
		`(memory in MiB; price-min in tokens per started minute; desc last). Default: one environment "wasm" with those values`,
		func(s string) error {
			for _, one := range strings.Split(s, ";") {
				if one = strings.TrimSpace(one); one == "" {
					continue
				}
				e, err := compute.ParseEnvironment(one)
				if err != nil {
					return err
				}
				c.Environments = append(c.Environments, e)
			}
			return nil
		})
	fs.DurationVar(&c.Retention, "compute-retention", 7*24*time.Hour, "how long a finished compute job and its results are kept")
	fs.IntVar(&c.MaxQueue, "compute-max-queue", 100, "compute jobs that may wait in one environment")
}
