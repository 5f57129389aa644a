package http

import (
	"mime"
	"path"
)

// contentTypes is the table for the web's common extensions. It is ours, not
// the system's, so that a server answers the same on every host
// (/etc/mime.types differs between distributions and is absent in
// containers); mime.TypeByExtension is only the fallback.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".shtml":       "text/html; charset=utf-8",
	".xhtml":       "application/xhtml+xml",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".jsonld":      "application/ld+json",
	".webmanifest": "application/manifest+json",
	".xml":         "application/xml",
	".rss":         "application/rss+xml",
	".atom":        "application/atom+xml",
	".txt":         "text/plain; charset=utf-8",
	".text":        "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".csv":         "text/csv; charset=utf-8",
	".tsv":         "text/tab-separated-values; charset=utf-8",
	".ics":         "text/calendar; charset=utf-8",
	".vtt":         "text/vtt; charset=utf-8",
	".wasm":        "application/wasm",

	".png":  "image/png",
	".apng": "image/apng",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".avif": "image/avif",
	".svg":  "image/svg+xml",
	".svgz": "image/svg+xml",
	".ico":  "image/x-icon",
	".bmp":  "image/bmp",
	".tif":  "image/tiff",
	".tiff": "image/tiff",
	".jxl":  "image/jxl",
	".heic": "image/heic",

	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
	".eot":   "application/vnd.ms-fontobject",

	".mp3":  "audio/mpeg",
	".ogg":  "audio/ogg",
	".oga":  "audio/ogg",
	".opus": "audio/ogg",
	".wav":  "audio/wav",
	".flac": "audio/flac",
	".m4a":  "audio/mp4",
	".aac":  "audio/aac",
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".webm": "video/webm",
	".ogv":  "video/ogg",
	".mov":  "video/quicktime",
	".avi":  "video/x-msvideo",
	".mkv":  "video/x-matroska",
	".m3u8": "application/vnd.apple.mpegurl",
	".ts":   "video/mp2t",

	".pdf":  "application/pdf",
	".zip":  "application/zip",
	".gz":   "application/gzip",
	".tgz":  "application/gzip",
	".br":   "application/x-brotli",
	".zst":  "application/zstd",
	".bz2":  "application/x-bzip2",
	".xz":   "application/x-xz",
	".7z":   "application/x-7z-compressed",
	".tar":  "application/x-tar",
	".rar":  "application/vnd.rar",
	".doc":  "application/msword",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xls":  "application/vnd.ms-excel",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".ppt":  "application/vnd.ms-powerpoint",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text",
	".epub": "application/epub+zip",
	".rtf":  "application/rtf",
	".swf":  "application/x-shockwave-flash",
	".jar":  "application/java-archive",
	".apk":  "application/vnd.android.package-archive",
	".deb":  "application/vnd.debian.binary-package",
	".rpm":  "application/x-rpm",
	".iso":  "application/x-iso9660-image",
	".exe":  "application/octet-stream",
	".bin":  "application/octet-stream",
	".dmg":  "application/octet-stream",
}

// TypeByExtension returns the Content-Type for a file extension such as
// ".html" (any case; the dot is required): from workermand's table of the
// web's common types, then from the system's (mime.TypeByExtension), or ""
// when neither knows it.
func TypeByExtension(ext string) string {
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if lower := toLowerASCII(ext); lower != ext {
		if t, ok := contentTypes[lower]; ok {
			return t
		}
	}
	if ext == "" {
		return ""
	}
	return mime.TypeByExtension(ext)
}

// ContentTypeOf is TypeByExtension of name's extension, or
// "application/octet-stream" for an unknown one.
func ContentTypeOf(name string) string {
	if t := TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func toLowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
