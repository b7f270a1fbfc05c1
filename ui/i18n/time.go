package i18n

import (
	"strings"
	"time"
)

// names are a language's abbreviated day names (Sunday first, as
// time.Weekday counts) and month names (January first), as the language
// usually writes them in a date.
type names struct {
	days   [7]string
	months [12]string
}

var dateNames = map[string]names{
	"en": {
		[7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
		[12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	},
	"de": {
		[7]string{"So", "Mo", "Di", "Mi", "Do", "Fr", "Sa"},
		[12]string{"Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"},
	},
	"fr": {
		[7]string{"dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."},
		[12]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."},
	},
	"es": {
		[7]string{"dom", "lun", "mar", "mié", "jue", "vie", "sáb"},
		[12]string{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"},
	},
	"it": {
		[7]string{"dom", "lun", "mar", "mer", "gio", "ven", "sab"},
		[12]string{"gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"},
	},
	"nl": {
		[7]string{"zo", "ma", "di", "wo", "do", "vr", "za"},
		[12]string{"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"},
	},
	"sv": {
		[7]string{"sön", "mån", "tis", "ons", "tors", "fre", "lör"},
		[12]string{"jan", "feb", "mars", "apr", "maj", "juni", "juli", "aug", "sep", "okt", "nov", "dec"},
	},
}

// Time formats t in loc (the host's time zone when nil) in the dashboard's
// layout, "Wed, 18 Sep 2024 02:19:00 BST +0100", with the language's day
// and month names ("Mi, 18 Sep 2024 02:19:00 BST +0100" in German). The
// zero time is "—".
func (l *Locale) Time(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	n, ok := dateNames[l.code]
	if !ok {
		n = dateNames["en"]
	}
	return n.days[t.Weekday()] + ", " + t.Format("02") + " " + n.months[t.Month()-1] + " " + t.Format("2006 15:04:05 MST -0700")
}

// decimalComma are the languages that write 12,5 rather than 12.5.
var decimalComma = map[string]bool{"de": true, "fr": true, "es": true, "it": true, "nl": true, "sv": true}

// Decimal writes the decimal point of a number formatted by Go ("12.5",
// "+0.200") the language's way ("12,5" in German).
func (l *Locale) Decimal(s string) string {
	if decimalComma[l.code] {
		return strings.ReplaceAll(s, ".", ",")
	}
	return s
}
