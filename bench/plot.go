package main

// The cost-growth plot: requests per second against concurrent clients
// (each route, log scales), and the daemon's RSS and rps against started
// tunnels, as one PNG.

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var palette = []color.RGBA{
	{0x33, 0x33, 0x33, 0xff}, // direct
	{0xd6, 0x27, 0x28, 0xff}, // cld
	{0x1f, 0x77, 0xb4, 0xff},
	{0x2c, 0xa0, 0x2c, 0xff},
	{0xff, 0x7f, 0x0e, 0xff},
	{0x94, 0x67, 0xbd, 0xff},
}

// panel is one chart: its place in the image and its axes' ranges.
type panel struct {
	img                    *image.RGBA
	x0, y0, w, h           int // the plotting area
	xmin, xmax, ymin, ymax float64
	logX, logY             bool
}

func (p *panel) px(x, y float64) (int, int) {
	f := func(v, lo, hi float64, log bool) float64 {
		if log {
			v, lo, hi = math.Log10(v), math.Log10(lo), math.Log10(hi)
		}
		return (v - lo) / (hi - lo)
	}
	return p.x0 + int(f(x, p.xmin, p.xmax, p.logX)*float64(p.w)), p.y0 + p.h - int(f(y, p.ymin, p.ymax, p.logY)*float64(p.h))
}

func (p *panel) line(x1, y1, x2, y2 int, c color.Color) {
	dx, dy := x2-x1, y2-y1
	n := max(abs(dx), abs(dy), 1)
	for i := 0; i <= n; i++ {
		x, y := x1+dx*i/n, y1+dy*i/n
		for ox := -1; ox <= 0; ox++ {
			for oy := -1; oy <= 0; oy++ {
				p.img.Set(x+ox, y+oy, c)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// axes draws the frame, the title and the ticks at xs (labelled) and at
// four y levels.
func (p *panel) axes(title, xlabel, ylabel string, xs []float64) {
	grey := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	black := color.Black
	p.line(p.x0, p.y0+p.h, p.x0+p.w, p.y0+p.h, black)
	p.line(p.x0, p.y0, p.x0, p.y0+p.h, black)
	text(p.img, p.x0, p.y0-10, title, black)
	text(p.img, p.x0+p.w/2-len(xlabel)*7/2, p.y0+p.h+32, xlabel, black)
	text(p.img, p.x0-60, p.y0-24, ylabel, black)
	for _, x := range xs {
		px, _ := p.px(x, p.ymin)
		p.line(px, p.y0, px, p.y0+p.h, grey)
		text(p.img, px-8, p.y0+p.h+16, fmt.Sprint(x), black)
	}
	for i := 0; i <= 4; i++ {
		var y float64
		if p.logY {
			y = p.ymin * math.Pow(p.ymax/p.ymin, float64(i)/4)
		} else {
			y = p.ymin + (p.ymax-p.ymin)*float64(i)/4
		}
		_, py := p.px(p.xmin, y)
		p.line(p.x0, py, p.x0+p.w, py, grey)
		text(p.img, p.x0-58, py+4, fmt.Sprintf("%.0f", y), black)
	}
}

func (p *panel) series(xs, ys []float64, c color.Color) {
	var lx, ly int
	for i := range xs {
		if ys[i] <= 0 {
			continue
		}
		x, y := p.px(xs[i], ys[i])
		if i > 0 && ys[i-1] > 0 {
			p.line(lx, ly, x, y, c)
		}
		for ox := -3; ox <= 3; ox++ {
			for oy := -3; oy <= 3; oy++ {
				p.img.Set(x+ox, y+oy, c)
			}
		}
		lx, ly = x, y
	}
}

// legend writes a series' name after a short line of its colour.
func legend(img *image.RGBA, x, y int, name string, c color.Color) {
	for i := 0; i < 16; i++ {
		img.Set(x+i, y-4, c)
		img.Set(x+i, y-5, c)
	}
	text(img, x+22, y, name, c)
}

func (r *results) plot(o options, routes []route, file string) error {
	img := image.NewRGBA(image.Rect(0, 0, 1200, 500))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	// Left: rps against concurrent clients, each route.
	xs := make([]float64, len(o.concurrency))
	hi, lo := 0.0, math.Inf(1)
	for i, c := range o.concurrency {
		xs[i] = float64(c)
		for _, rt := range routes {
			if v := r.get(fmt.Sprintf("%s_c%d_rps", key(rt), c)); v > 0 {
				hi, lo = max(hi, v), min(lo, v)
			}
		}
	}
	if hi == 0 {
		return nil
	}
	left := &panel{img: img, x0: 90, y0: 60, w: 560, h: 360, xmin: xs[0] * 0.8, xmax: xs[len(xs)-1] * 1.25,
		ymin: math.Pow(10, math.Floor(math.Log10(lo))), ymax: math.Pow(10, math.Ceil(math.Log10(hi))), logX: true, logY: true}
	left.axes("Requests per second by concurrent clients", "concurrent clients", "req/s", xs)
	for i, rt := range routes {
		ys := make([]float64, len(xs))
		for j, c := range o.concurrency {
			ys[j] = r.get(fmt.Sprintf("%s_c%d_rps", key(rt), c))
		}
		c := palette[i%len(palette)]
		left.series(xs, ys, c)
		legend(img, left.x0+left.w+12, left.y0+20+18*i, rt.name, c)
	}

	// Right: the daemon's RSS (MB) and rps (thousands) against started
	// tunnels.
	ts := make([]float64, len(o.tunnels))
	rss, rps := make([]float64, len(ts)), make([]float64, len(ts))
	top := 0.0
	for i, n := range o.tunnels {
		ts[i] = float64(n)
		rss[i] = r.get(fmt.Sprintf("tunnels_%d_daemon_idle_rss_mb", n))
		rps[i] = r.get(fmt.Sprintf("tunnels_%d_rps", n)) / 1000
		top = max(top, rss[i], rps[i])
	}
	right := &panel{img: img, x0: 870, y0: 60, w: 300, h: 360, xmin: 0, xmax: ts[len(ts)-1] * 1.1, ymin: 0, ymax: math.Ceil(top/10+0.5) * 10}
	right.axes("cld against started tunnels", "started tunnels", "", ts)
	right.series(ts, rss, palette[1])
	right.series(ts, rps, palette[2])
	legend(img, right.x0+10, right.y0+20, "daemon RSS, MB", palette[1])
	legend(img, right.x0+10, right.y0+38, "thousand req/s (32 clients)", palette[2])

	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
