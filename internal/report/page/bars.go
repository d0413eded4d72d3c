package page

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// stacked is a gonum/plot plotter of one bar per category (0, 1, … on
// the category axis), each a stack of one segment per series. Unlike
// plotter.BarChart it draws no segment for a zero, so every filled
// rectangle in the chart is a count that is there: a reader hovering a
// thin sliver, and the browser test counting rectangles, see the data and
// nothing else.
type stacked struct {
	values     [][]float64 // [series][category]
	colors     []color.Color
	width      vg.Length
	horizontal bool // categories up the Y axis, values along X
}

var (
	_ plot.Plotter    = stacked{}
	_ plot.DataRanger = stacked{}
)

// Plot draws the non-zero segments.
func (s stacked) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	trCat, trVal := trX, trY
	if s.horizontal {
		trCat, trVal = trY, trX
	}
	for cat := range s.categories() {
		bottom := 0.0
		for series, vals := range s.values {
			v := vals[cat]
			if v == 0 {
				continue
			}
			lo, hi := trCat(float64(cat))-s.width/2, trCat(float64(cat))+s.width/2
			from, to := trVal(bottom), trVal(bottom+v)
			bottom += v
			pts := []vg.Point{{X: lo, Y: from}, {X: lo, Y: to}, {X: hi, Y: to}, {X: hi, Y: from}}
			if s.horizontal {
				pts = []vg.Point{{X: from, Y: lo}, {X: to, Y: lo}, {X: to, Y: hi}, {X: from, Y: hi}}
			}
			c.FillPolygon(s.colors[series], pts)
		}
	}
}

// categories is the number of bars.
func (s stacked) categories() int {
	if len(s.values) == 0 {
		return 0
	}
	return len(s.values[0])
}

// DataRange spans every category and the tallest stack, from zero.
func (s stacked) DataRange() (xmin, xmax, ymin, ymax float64) {
	top := 1.0 // an empty chart still has an axis to draw
	for cat := range s.categories() {
		sum := 0.0
		for _, vals := range s.values {
			sum += vals[cat]
		}
		top = max(top, sum)
	}
	catMin, catMax := -0.5, float64(s.categories())-0.5
	if s.horizontal {
		return 0, top, catMin, catMax
	}
	return catMin, catMax, 0, top
}

// swatch is a legend entry's coloured square.
type swatch struct{ color color.Color }

// Thumbnail fills the legend entry's box.
func (w swatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(w.color, []vg.Point{
		{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y},
	})
}
