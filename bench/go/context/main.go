// context — create a tree of 100,000 cancellable contexts and cancel it from
// the root, 10 times; report contexts/s.
//
// Go twin of bench/context.c: each round a root context.WithCancel
// (Background), 100,000 descendants, each context.WithCancel of node
// (i-1)/10 (fanout 10), then the root's cancel; the check that every node
// was cancelled is not timed. The garbage collector frees the tree.
// Row: context, ops/s (higher is better).
package main

import (
	"context"
	"fmt"
	"gocbench/internal/bench"
	"os"
	"time"
)

const (
	defaultCount = 100000
	rounds       = 10
	fanout       = 10
)

func main() {
	n := bench.Count(defaultCount)
	var elapsed time.Duration
	for round := 0; round < rounds; round++ {
		node := make([]context.Context, n+1)
		cancels := make([]context.CancelFunc, n+1)
		start := time.Now()
		node[0], cancels[0] = context.WithCancel(context.Background())
		for i := 1; i <= n; i++ {
			node[i], cancels[i] = context.WithCancel(node[(i-1)/fanout])
		}
		cancels[0]()
		elapsed += time.Since(start)

		for i, c := range node {
			if c.Err() != context.Canceled {
				fmt.Fprintf(os.Stderr, "bench: context: node %d not cancelled (%v)\n", i, c.Err())
				os.Exit(1)
			}
		}
	}
	fmt.Printf("# context: %d rounds of %d contexts in %.1f ms\n", rounds, n+1,
		float64(elapsed.Nanoseconds())/1e6)
	bench.Result("context", "ops/s", float64(rounds)*float64(n+1)*1e9/float64(elapsed.Nanoseconds()))
}
