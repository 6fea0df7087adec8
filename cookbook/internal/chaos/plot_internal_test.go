package chaos

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A line reaches its end in every direction and slope, drawing one pixel a
// step along its longer axis. (The error term, tested again after the
// first step had moved it, once overshot and a soak's plot never ended.)
func TestLineReachesItsEnd(t *testing.T) {
	c := color.RGBA{1, 2, 3, 255}
	for dx := -30; dx <= 30; dx++ {
		for dy := -30; dy <= 30; dy++ {
			img := image.NewRGBA(image.Rect(0, 0, 81, 81))
			line(img, 40, 40, 40+dx, 40+dy, c, 1)
			set := 0
			for i := 0; i < len(img.Pix); i += 4 {
				if img.Pix[i+3] != 0 {
					set++
				}
			}
			if !assert.Equal(t, c, img.RGBAAt(40+dx, 40+dy), "the end of (%d, %d)", dx, dy) {
				return
			}
			assert.Equal(t, max(abs(dx), abs(dy))+1, set, "pixels of (%d, %d)", dx, dy)
		}
	}
}
