package osdetect

// Exported for the external tests, which link the families in.
var (
	Families     = families
	FromOSInfo   = fromOSInfo
	FirstKnown   = firstKnown
	MaxInfoRunes = maxInfoRunes
)
