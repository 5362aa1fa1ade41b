package bench

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Chart draws end-to-end p99 latency against achieved throughput, one line
// per peer, on a log latency axis.
func Chart(r *Results, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("End-to-end p99 latency vs throughput (%s)", r.Host)
	p.X.Label.Text = "achieved throughput (records/s, 1 KiB)"
	p.Y.Label.Text = "p99 latency (ms, from intended send time)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	var lines []any
	for _, pr := range r.Peers {
		var xy plotter.XYs
		for _, e := range pr.E2E {
			if e.Achieved > 0 && e.Lat.P99 > 0 {
				xy = append(xy, plotter.XY{X: e.Achieved, Y: e.Lat.P99 / 1000})
			}
		}
		if len(xy) > 0 {
			lines = append(lines, pr.Spec.Name, xy)
		}
	}
	if len(lines) > 0 {
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return err
		}
	}
	return p.Save(10*vg.Inch, 6*vg.Inch, path)
}
