package portal

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// describeAgent turns a User-Agent into words a family recognises.
func describeAgent(ua string) string {
	browser := "Navigateur"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "Mac"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return browser + " sur " + system
}

// formValueFold returns a parameter of the query or the form body whose
// name matches case-insensitively (DGFiP sends idOp or idop).
func formValueFold(c *gin.Context, name string) string {
	if err := c.Request.ParseForm(); err != nil {
		return ""
	}
	for k, vs := range c.Request.Form {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
