// tenants_noisy on Go: the shape of ergon-bench tenants_noisy (bench/tenants.cpp) on a runtime
// with no priorities and no tenants (golang/go#51071): a probe goroutine sleeps 1 ms, Probes
// times, and records how late it woke; first alone, then beside Noise busy goroutines running
// an LCG loop (preempted asynchronously by the Go runtime, 10 ms slices).
//
//   go run tenants_noisy.go [scale]
//   RESULT tenants_noisy go wall_ms=.. p99_alone_us=.. p99_noisy_us=.. noise=..
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var sink uint64

func burn(stop *atomic.Bool, wg *sync.WaitGroup) {
	defer wg.Done()
	acc := uint64(1)
	for !stop.Load() {
		for i := 0; i < 24; i++ {
			acc = acc*6364136223846793005 + 1442695040888963407
		}
	}
	atomic.AddUint64(&sink, acc)
}

// probe returns the p99 lateness in us and the number of wake-ups seen. It gives up after
// 3 s (a wake-up still pending then counts as late by the time it has waited so far).
func probe(n int) (float64, int) {
	var mu sync.Mutex
	late := make([]int64, 0, n)
	done := make(chan struct{})
	var pending atomic.Int64 // the due time of the wake-up in progress (ns since t0), or -1
	t0 := time.Now()
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			due := time.Now().Add(time.Millisecond)
			pending.Store(int64(due.Sub(t0)))
			time.Sleep(time.Millisecond)
			pending.Store(-1)
			mu.Lock()
			late = append(late, int64(time.Since(due)))
			mu.Unlock()
			if time.Since(t0) > 3*time.Second {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	out := append([]int64(nil), late...)
	if p := pending.Load(); p >= 0 && int64(time.Since(t0)) > p {
		out = append(out, int64(time.Since(t0))-p)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	k := len(out) * 99 / 100
	if k >= len(out) {
		k = len(out) - 1
	}
	return float64(out[k]) / 1000.0, len(late)
}

func main() {
	scale := 1.0
	if len(os.Args) > 1 {
		if s, err := strconv.ParseFloat(os.Args[1], 64); err == nil && s > 0 {
			scale = s
		}
	}
	cnt := func(b float64) int { return max1(int(b*scale + 0.5)) }
	noise, probes := cnt(10000), cnt(1000)
	t0 := time.Now()
	alone, _ := probe(probes)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < noise; i++ {
		wg.Add(1)
		go burn(&stop, &wg)
	}
	time.Sleep(50 * time.Millisecond)
	noisy, seen := probe(probes)
	stop.Store(true)
	fmt.Printf("RESULT tenants_noisy go wall_ms=%.3f p99_alone_us=%.3f p99_noisy_us=%.3f noise=%d probes_noisy=%d\n",
		float64(time.Since(t0).Nanoseconds())/1e6, alone, noisy, noise, seen)
	os.Exit(0) // the busy goroutines need not be waited for
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
