package assets

import (
	"mime"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fileName is the name a download is saved under: the asset's name made
// safe for a file system, with an extension for its content type when the
// name has none, or "asset-<id>" when it has no name.
func fileName(id string, md Metadata) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, r == '/', r == '\\', unicode.IsControl(r):
			return '_'
		}
		return r
	}, strings.TrimSpace(md.Name))
	name = strings.Trim(name, ". ")
	if name == "" {
		name = "asset-" + id
	}
	if len(name) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	if path.Ext(name) == "" && md.ContentType != "" {
		if t, _, err := mime.ParseMediaType(md.ContentType); err == nil {
			name += extensions[t]
		}
	}
	return name
}

// extensions is deliberately small and fixed: mime.ExtensionsByType depends
// on the host's mime.types and would name the same download differently on
// different nodes.
var extensions = map[string]string{
	"text/plain": ".txt", "text/csv": ".csv", "text/html": ".html", "text/markdown": ".md",
	"application/json": ".json", "application/xml": ".xml", "text/xml": ".xml",
	"application/pdf": ".pdf", "application/zip": ".zip", "application/gzip": ".gz",
	"application/x-tar": ".tar", "application/wasm": ".wasm", "application/x-parquet": ".parquet",
	"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/svg+xml": ".svg", "image/webp": ".webp",
	"audio/mpeg": ".mp3", "video/mp4": ".mp4",
}

// contentDisposition is an RFC 6266 attachment header for name: an ASCII
// fallback in filename= for old clients, and the exact name in RFC 8187
// extended form (filename*=) for the rest, which prefer it.
func contentDisposition(name string) string {
	var b strings.Builder
	b.WriteString(`attachment; filename="`)
	for _, r := range name {
		switch {
		case r < 0x20 || r >= 0x7f || r == '"' || r == '\\':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(`"; filename*=UTF-8''`)
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAttrChar(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// isAttrChar is RFC 8187's attr-char: what may appear unencoded in an
// extended parameter value.
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
