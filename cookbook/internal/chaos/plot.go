package chaos

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"time"
)

// The plot's layout, in pixels.
const (
	plotW    = 900
	panelH   = 170
	panelGap = 36
	left     = 90
	right    = 20
	top      = 12
	bottom   = 44
	scale    = 2 // of the 5×7 font
)

var (
	white = color.RGBA{255, 255, 255, 255}
	frame = color.RGBA{150, 150, 150, 255}
	ink   = color.RGBA{30, 30, 30, 255}
	faint = color.RGBA{210, 210, 210, 255}
	bound = color.RGBA{200, 40, 40, 255}
)

// series is one panel: a title, the values and their colour.
type series struct {
	title  string
	values []float64
	c      color.RGBA
}

// Plot writes a PNG of the samples over time, one panel each for the
// heap, the goroutines, the open files and etcd's database: the warm-up's
// end marked, and after it the bound each must stay under.
func Plot(w io.Writer, samples []SoakSample, warmup time.Duration) error {
	if len(samples) == 0 {
		return fmt.Errorf("ninelives: soak: nothing to plot")
	}
	var ss [4]series
	ss[0] = series{title: "HEAP MIB", c: color.RGBA{31, 119, 180, 255}}
	ss[1] = series{title: "GOROUTINES", c: color.RGBA{44, 160, 44, 255}}
	ss[2] = series{title: "OPEN FILES", c: color.RGBA{148, 103, 189, 255}}
	ss[3] = series{title: "ETCD DB MIB", c: color.RGBA{255, 127, 14, 255}}
	xs := make([]float64, len(samples))
	for i, s := range samples {
		xs[i] = s.At.Minutes()
		for j, v := range []float64{mib(s.HeapBytes), float64(s.Goroutines), float64(s.FDs), float64(s.EtcdBytes) / (1 << 20)} {
			ss[j].values = append(ss[j].values, v)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, plotW, top+4*panelH+3*panelGap+bottom))
	fill(img, img.Bounds(), white)
	span := math.Max(xs[len(xs)-1], 1)
	for i, s := range ss {
		p := panel{img: img, r: image.Rect(left, top+i*(panelH+panelGap), plotW-right, top+i*(panelH+panelGap)+panelH), span: span}
		p.draw(s, xs, warmup.Minutes())
	}
	axis(img, span)
	return png.Encode(w, img)
}

// panel is where one series is drawn, and the time it spans in minutes.
type panel struct {
	img  *image.RGBA
	r    image.Rectangle
	span float64
	ymax float64
}

func (p *panel) x(minutes float64) int {
	return p.r.Min.X + int(math.Round(minutes/p.span*float64(p.r.Dx()-1)))
}

func (p *panel) y(v float64) int {
	return p.r.Max.Y - 1 - int(math.Round(v/p.ymax*float64(p.r.Dy()-1)))
}

// draw draws s: its frame, the warm-up's end, the bound after it (10 %
// above the first value from then on), the values from 0 up, and its
// title and scale.
func (p *panel) draw(s series, xs []float64, warmup float64) {
	ref := -1
	for i, x := range xs {
		if x >= warmup {
			ref = i
			break
		}
	}
	p.ymax = 1
	for _, v := range s.values {
		p.ymax = math.Max(p.ymax, v)
	}
	if ref >= 0 {
		p.ymax = math.Max(p.ymax, s.values[ref]*(1+MaxGrowth))
	}
	p.ymax *= 1.15
	outline(p.img, p.r, frame)
	if warmup < p.span {
		line(p.img, p.x(warmup), p.r.Min.Y, p.x(warmup), p.r.Max.Y-1, faint, 1)
	}
	if ref >= 0 {
		y := p.y(s.values[ref] * (1 + MaxGrowth))
		line(p.img, p.x(xs[ref]), y, p.r.Max.X-1, y, bound, 4)
		text(p.img, p.r.Max.X-len("BOUND +10%")*6*scale-4, y-9*scale, "BOUND +10%", bound)
	}
	for i := range xs {
		x, y := p.x(xs[i]), p.y(s.values[i])
		fill(p.img, image.Rect(x-2, y-2, x+3, y+3), s.c)
		if i > 0 {
			line(p.img, p.x(xs[i-1]), p.y(s.values[i-1]), x, y, s.c, 1)
		}
	}
	text(p.img, p.r.Min.X+6, p.r.Min.Y+6, s.title, ink)
	text(p.img, 4, p.r.Min.Y, short(p.ymax), ink)
	text(p.img, 4, p.r.Max.Y-7*scale, "0", ink)
}

// axis writes the minutes under the last panel.
func axis(img *image.RGBA, span float64) {
	p := panel{r: image.Rect(left, 0, plotW-right, 1), span: span}
	step := math.Max(1, math.Ceil(span/10))
	y := img.Bounds().Max.Y - bottom + 8
	for m := 0.0; m <= span+1e-9; m += step {
		s := short(m)
		text(img, p.x(m)-len(s)*3*scale, y, s, ink)
	}
	text(img, plotW/2-len("MINUTES")*3*scale, y+9*scale+2, "MINUTES", ink)
}

// short writes v with at most one decimal.
func short(v float64) string {
	if v == math.Trunc(v) || v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func outline(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	line(img, r.Min.X, r.Min.Y, r.Max.X-1, r.Min.Y, c, 1)
	line(img, r.Min.X, r.Max.Y-1, r.Max.X-1, r.Max.Y-1, c, 1)
	line(img, r.Min.X, r.Min.Y, r.Min.X, r.Max.Y-1, c, 1)
	line(img, r.Max.X-1, r.Min.Y, r.Max.X-1, r.Max.Y-1, c, 1)
}

// line draws from (x0, y0) to (x1, y1), dashed when dash > 1 (dash
// pixels drawn, dash left out).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, dash int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for n := 0; n <= dx-dy; n++ { // at most |Δx| + |Δy| steps, whatever happens
		if dash <= 1 || (n/dash)%2 == 0 {
			img.SetRGBA(x0, y0, c)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e // both steps test the error before either moves
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// text writes s at (x, y), its top left corner, in the 5×7 font at scale;
// characters the font lacks are left blank.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for i, r := range strings.ToUpper(s) {
		g := glyphs[r]
		for row, bits := range g {
			for col := range 5 {
				if bits&(1<<(4-col)) != 0 {
					px, py := x+(i*6+col)*scale, y+row*scale
					fill(img, image.Rect(px, py, px+scale, py+scale), c)
				}
			}
		}
	}
}

// glyphs is a 5×7 font of what the plot writes: each row's five pixels
// are the low bits of a byte, the leftmost highest.
var glyphs = map[rune][7]byte{
	'0': {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, '1': {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
	'2': {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, '3': {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
	'4': {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, '5': {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
	'6': {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, '7': {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, '9': {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
	'.': {0, 0, 0, 0, 0, 0x0C, 0x0C}, '-': {0, 0, 0, 0x1F, 0, 0, 0}, '+': {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0},
	'%': {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},
	'A': {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, 'B': {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
	'C': {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, 'D': {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E},
	'E': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, 'F': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
	'G': {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, 'H': {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
	'I': {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, 'L': {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
	'M': {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, 'N': {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
	'O': {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, 'P': {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
	'R': {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, 'S': {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},
	'T': {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, 'U': {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},
}
