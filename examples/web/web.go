// Package web holds the example page a front end can start from: a Record
// button that asks the token function for a record token and shows ilos's
// record button for it, with a readable message for every error.
//
// The page is plain HTML, one JavaScript file and a little CSS, with no
// build step: copy index.html, app.js, style.css and config.js, and set the
// function's URL in config.js. [Handler] serves the same files with a
// config.js of its own, as the local server does.
package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
)

//go:embed index.html app.js style.css config.js
var files embed.FS

// FS returns the page's files: index.html, app.js, style.css and the
// config.js a copy starts from.
func FS() fs.FS {
	return files
}

// Config is the page's settings, which [Handler] serves as config.js.
type Config struct {
	// TokenURL is the URL of the function's token route, such as
	// http://127.0.0.1:3000/token. Required.
	TokenURL string `json:"tokenURL"`

	// AppURL is the base URL of the ilos app that serves the record
	// button. Empty leaves the page's default, https://app.ilosvideos.com.
	AppURL string `json:"appURL,omitempty"`

	// Options are the ilos options the page sends, each of which the
	// function must allow in CLIENT_OPTIONS. Sending any makes the request
	// JSON, which the browser preflights. Nil sends none.
	Options map[string]any `json:"options,omitempty"`
}

// Handler serves the page's files, with a config.js that sets cfg.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.TokenURL == "" {
		return nil, errors.New("web: no token URL")
	}
	settings, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("web: encode config: %w", err)
	}
	// json.Marshal escapes <, > and &, so the settings cannot end the
	// script early.
	script := []byte(fmt.Sprintf("window.ilosTokenConfig = %s;\n", settings))

	static := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path != "/config.js" {
			static.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(script)
	}), nil
}
