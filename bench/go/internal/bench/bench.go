// Package bench holds what every Go twin of a goc benchmark shares: the
// RESULT line bench/run.sh parses (the format of bench/bench.h), the
// optional count argument, and reading VmRSS.
package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Result prints the line bench/run.sh parses.
func Result(name, unit string, value float64) {
	fmt.Printf("RESULT name=%s unit=%s value=%.3f\n", name, unit, value)
}

// Count returns os.Args[1] if given (a positive integer), else dflt.
func Count(dflt int) int {
	if len(os.Args) < 2 {
		return dflt
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [count]  (count: a positive integer)\n", os.Args[0])
		os.Exit(1)
	}
	return n
}

// Die prints "bench: ..." on stderr and exits with status 1.
func Die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// RSSKiB returns VmRSS from /proc/self/status, in KiB.
func RSSKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		Die("cannot read VmRSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(strings.TrimPrefix(line, "VmRSS:"))
			if len(fields) > 0 {
				if kib, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return kib
				}
			}
		}
	}
	Die("no VmRSS line in /proc/self/status")
	return 0
}
