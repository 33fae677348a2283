package loadgen

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessCPU is this process's user+system CPU time so far (getrusage,
// all threads).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports
// except a few exotic ones; /proc reports CPU time in these units.
const clockTicks = 100

// ProcStat is what /proc tells about another process.
type ProcStat struct {
	// CPU is user+system time of all its threads (10 ms resolution).
	CPU time.Duration
	// RSS is the current resident set size; PeakRSS is VmHWM, the peak
	// since the process started.
	RSS, PeakRSS int64
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcStat, error) {
	var ps ProcStat
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name (field 2) may hold spaces: parse after its ')'.
	s := string(raw)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return ps, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return ps, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return ps, fmt.Errorf("bad /proc/%d/stat times", pid)
	}
	ps.CPU = time.Duration(utime+stime) * time.Second / clockTicks

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &ps.RSS
		case "VmHWM":
			dst = &ps.PeakRSS
		default:
			continue
		}
		f := strings.Fields(val)
		if len(f) >= 1 {
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err == nil {
				*dst = kb * 1024
			}
		}
	}
	return ps, nil
}
