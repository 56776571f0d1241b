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

func probe(n int) float64 {
	late := make([]int64, 0, n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		due := time.Now().Add(time.Millisecond)
		time.Sleep(time.Millisecond)
		late = append(late, int64(time.Since(due)))
		if time.Since(t0) > 3*time.Second {
			break
		}
	}
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	k := len(late) * 99 / 100
	if k >= len(late) {
		k = len(late) - 1
	}
	return float64(late[k]) / 1000.0
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
	alone := probe(probes)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < noise; i++ {
		wg.Add(1)
		go burn(&stop, &wg)
	}
	time.Sleep(50 * time.Millisecond)
	noisy := probe(probes)
	stop.Store(true)
	wg.Wait()
	fmt.Printf("RESULT tenants_noisy go wall_ms=%.3f p99_alone_us=%.3f p99_noisy_us=%.3f noise=%d\n",
		float64(time.Since(t0).Nanoseconds())/1e6, alone, noisy, noise)
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
