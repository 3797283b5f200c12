// Package bench holds what every Go twin of a goc benchmark shares: the
// RESULT line bench/run.sh parses (the format of bench/bench.h) and the
// optional count argument.
package bench

import (
	"fmt"
	"os"
	"strconv"
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
