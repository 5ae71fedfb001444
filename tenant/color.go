package tenant

import (
	"math"
	"strconv"
)

// ContrastWithWhite returns the WCAG 2 contrast ratio between white and the
// colour written #rrggbb (1 to 21). Accent colours carry white text, so AA
// needs 4.5.
func ContrastWithWhite(hex string) float64 {
	if len(hex) != 7 {
		return 1
	}
	var lum float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return 1
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += w * c
	}
	return 1.05 / (lum + 0.05)
}
