package ocean

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/sandbox"
)

// Environment is a kind of compute slot the node offers.
type Environment struct {
	ID             string
	Description    string
	MemoryMiB      int64         // linear memory of an algorithm; default 256
	MaxJobs        int           // jobs run at once (the rest wait); default 2
	MaxJobDuration time.Duration // wall-clock limit of a run; default 10 minutes
	MaxInput       int64         // bytes of input files staged for a job; default 1 GiB
	MaxOutput      int64         // bytes of outputs and logs a job may write; default 256 MiB
	PriceMin       money.Amount  // fee per started minute of maxJobDuration; default free
}

// DefaultEnvironment is the environment a node offers when none is
// configured.
var DefaultEnvironment = Environment{ID: "wasm", Description: "WebAssembly (WASI preview 1) algorithms, run with wazero"}

func (e *Environment) defaults() {
	if e.MemoryMiB == 0 {
		e.MemoryMiB = 256
	}
	if e.MaxJobs == 0 {
		e.MaxJobs = 2
	}
	if e.MaxJobDuration == 0 {
		e.MaxJobDuration = 10 * time.Minute
	}
	if e.MaxInput == 0 {
		e.MaxInput = 1 << 30
	}
	if e.MaxOutput == 0 {
		e.MaxOutput = 256 << 20
	}
	if e.Description == "" {
		e.Description = DefaultEnvironment.Description
	}
}

var envIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (e *Environment) validate() error {
	switch {
	case !envIDRe.MatchString(e.ID):
		return fmt.Errorf("compute: environment id %q must be 1 to 64 letters, digits, '.', '_' or '-'", e.ID)
	case e.MemoryMiB < 1 || e.MemoryMiB > 4096:
		return fmt.Errorf("compute: environment %s: memory must be 1 MiB to 4 GiB", e.ID)
	case e.MaxJobs < 1 || e.MaxJobs > 1024:
		return fmt.Errorf("compute: environment %s: max jobs must be 1 to 1024", e.ID)
	case e.MaxJobDuration < time.Second:
		return fmt.Errorf("compute: environment %s: max job duration must be at least 1s", e.ID)
	case e.MaxInput < 1 || e.MaxOutput < 1:
		return fmt.Errorf("compute: environment %s: input and output limits must be positive", e.ID)
	case e.PriceMin < 0:
		return fmt.Errorf("compute: environment %s: price per minute must not be negative", e.ID)
	}
	return nil
}

// limits are the sandbox limits of the environment's runs. The runtime's
// slots match the workers, so a run never waits for one.
func (e *Environment) limits() sandbox.Limits {
	return sandbox.Limits{
		MemoryPages: uint32(e.MemoryMiB << 20 / sandbox.PageSize),
		Timeout:     e.MaxJobDuration,
		MaxOutput:   e.MaxOutput, // stdout is the algorithm's log
		MaxStderr:   64 << 10,
		Concurrency: e.MaxJobs,
		QueueWait:   time.Minute,
	}
}

// Fee is what a job of duration d costs in this environment: the price per
// minute for every started minute, at most MaxJobDuration.
func (e *Environment) Fee(d time.Duration) money.Amount {
	d = min(max(d, 0), e.MaxJobDuration)
	minutes := int64(math.Ceil(d.Minutes()))
	if e.PriceMin == 0 || minutes == 0 {
		return 0
	}
	if int64(e.PriceMin) > math.MaxInt64/minutes {
		return money.Amount(math.MaxInt64)
	}
	return e.PriceMin * money.Amount(minutes)
}

// ParseEnvironment reads an environment from its flag form: comma-separated
// key=value pairs, e.g. "id=big,memory=1024,max-jobs=4,max-duration=1h,
// max-input=10GiB,max-output=1GiB,price-min=0.01,desc=Large jobs".
// desc, if present, must come last: it takes the rest of the text.
func ParseEnvironment(s string) (Environment, error) {
	var e Environment
	rest := strings.TrimSpace(s)
	for rest != "" {
		var kv string
		if strings.HasPrefix(rest, "desc=") {
			kv, rest = rest, ""
		} else {
			kv, rest, _ = strings.Cut(rest, ",")
		}
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return e, fmt.Errorf("compute environment: %q is not key=value", kv)
		}
		var err error
		switch k {
		case "id":
			e.ID = v
		case "desc":
			e.Description = v
		case "memory":
			e.MemoryMiB, err = strconv.ParseInt(v, 10, 64)
		case "max-jobs":
			e.MaxJobs, err = strconv.Atoi(v)
		case "max-duration":
			e.MaxJobDuration, err = time.ParseDuration(v)
		case "max-input":
			e.MaxInput, err = ParseSize(v)
		case "max-output":
			e.MaxOutput, err = ParseSize(v)
		case "price-min":
			e.PriceMin, err = money.Parse(v)
		default:
			return e, fmt.Errorf("compute environment: unknown key %q (id, memory, max-jobs, max-duration, max-input, max-output, price-min, desc)", k)
		}
		if err != nil {
			return e, fmt.Errorf("compute environment: %s=%q: %v", k, v, err)
		}
	}
	e.defaults()
	return e, e.validate()
}

// ParseSize reads a byte count: an integer with an optional KiB, MiB, GiB
// or TiB suffix.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for i, suf := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), int64(1)<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (a number of bytes, optionally with KiB, MiB, GiB or TiB)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%s is too large", s)
	}
	return n * mult, nil
}

// Status codes of a job, as Ocean's operator service numbers them, with
// explicit codes for the failures and ends it leaves implicit.
const (
	StatusWarmingUp       = 1  // accepted, waiting for a slot of its environment
	StatusStopped         = 7  // stopped by its owner
	StatusDeleted         = 8  // deleted by its owner (only in the answer to delete)
	StatusStarted         = 10 // a worker took it
	StatusConfiguring     = 20 // staging inputs and the algorithm
	StatusProvisioned     = 30
	StatusDataFailed      = 31 // an input could not be staged
	StatusAlgorithmFailed = 32 // the algorithm could not be fetched or compiled
	StatusRunning         = 40
	StatusAlgorithmError  = 41 // the algorithm exited with an error or crashed
	StatusOutputLimit     = 42 // it wrote more than the environment's output limit
	StatusTimeLimit       = 43 // it ran longer than maxJobDuration
	StatusInterrupted     = 44 // the node stopped while it ran
	StatusFiltering       = 50
	StatusPublishing      = 60
	StatusPublishFailed   = 61
	StatusFinished        = 70
)

var statusText = map[int]string{
	StatusWarmingUp:       "Warming up",
	StatusStopped:         "Job stopped",
	StatusDeleted:         "Job deleted successfully",
	StatusStarted:         "Job started",
	StatusConfiguring:     "Configuring volumes",
	StatusProvisioned:     "Provisioning success",
	StatusDataFailed:      "Data provisioning failed",
	StatusAlgorithmFailed: "Algorithm provisioning failed",
	StatusRunning:         "Running algorithm",
	StatusAlgorithmError:  "Algorithm failed",
	StatusOutputLimit:     "Output limit exceeded",
	StatusTimeLimit:       "Time limit exceeded",
	StatusInterrupted:     "Interrupted: the node stopped while the job ran",
	StatusFiltering:       "Filtering results",
	StatusPublishing:      "Publishing results",
	StatusPublishFailed:   "Publishing results failed",
	StatusFinished:        "Job completed",
}

// StatusText describes a status code.
func StatusText(code int) string { return statusText[code] }

// environments lists the compute environments with their running and
// waiting jobs.
func (s *Service) environments(w http.ResponseWriter, r *http.Request) error {
	load, err := s.jobStore.Load(r.Context())
	if err != nil {
		return err
	}
	out := []api.ComputeEnvironment{}
	for _, e := range s.envOrder {
		out = append(out, api.ComputeEnvironment{
			ID: e.ID, Desc: e.Description, CPUType: "wasm32 (WASI preview 1, wazero)", NCPU: 1, CPUNumber: 1,
			RAMGB: float64(e.MemoryMiB) / 1024, DiskGB: float64(e.MaxInput+e.MaxOutput) / (1 << 30),
			MaxJobs: e.MaxJobs, CurrentJobs: load[e.ID].Running, QueuedJobs: load[e.ID].Queued,
			PriceMin: e.PriceMin.Float64(), PricePerMinute: e.PriceMin.String(),
			MaxJobDuration: int64(e.MaxJobDuration / time.Second), MaxOutputBytes: e.MaxOutput,
			FeeToken: s.cfg.FeeToken, ConsumerAddress: s.key.Address(),
			StorageExpiry: int64(s.cfg.Compute.Retention / time.Second), LastSeen: s.clock.Now().Unix(), Free: e.PriceMin == 0,
		})
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// environment returns the environment a request names (the first when it
// names none).
func (s *Service) environment(id string) (*environment, error) {
	if id == "" {
		return s.envOrder[0], nil
	}
	e, ok := s.envs[id]
	if !ok {
		ids := make([]string, 0, len(s.envOrder))
		for _, e := range s.envOrder {
			ids = append(ids, e.ID)
		}
		return nil, bad("Compute environment %q does not exist on this provider (it has %s)", id, strings.Join(ids, ", "))
	}
	return e, nil
}
