// Command local serves the function over plain HTTP on a loopback address,
// as `sam local start-api` does, together with the example page of
// package web, so a page can be tried against it.
//
// With ILOS_SECRET_ID unset it runs on an embedded default that needs no AWS
// account and no ilos key: an in-process Secrets Manager (speaking the real
// wire protocol, so the real SDK client reads it), an in-process ilos, and a
// demo key generated at start. With ILOS_SECRET_ID set it reads the same
// variables as the Lambda function and talks to real Secrets Manager and
// ilos.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/examples/web"
	"github.com/ilostoken/ilostoken/handler"
	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/internal/app"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// demoSecretID names the secret the embedded default stores the demo key
// under.
const demoSecretID = "ilos/demo"

func main() {
	addr := flag.String("addr", "127.0.0.1:3000",
		"loopback address to listen on")
	flag.Parse()

	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(),
		os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, *addr, os.LookupEnv, logger); err != nil {
		logger.Error("local server failed", "error", err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string,
	lookup func(string) (string, bool), logger *slog.Logger) error {
	s, err := start(ctx, addr, lookup, logger, web.Config{})
	if err != nil {
		return err
	}
	defer s.cleanup()

	for _, note := range s.notes {
		fmt.Fprintln(os.Stdout, note)
	}
	fmt.Fprintf(os.Stdout, "Serving on %s\nTry:\n"+
		"  curl -X POST -H 'Origin: %s' %s/token\n"+
		"Open the example page: %s/\n", s.base, s.origin, s.base, s.base)

	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(),
		5*time.Second)
	defer cancel()
	return s.srv.Shutdown(shutdownCtx)
}

// server is the local server, listening but not yet serving.
type server struct {
	base   string   // such as http://127.0.0.1:3000
	origin string   // the first allowed origin, or base for "*"
	notes  []string // said at start-up, before the URLs
	ln     net.Listener
	srv    *http.Server
	page   http.Handler // the example page
	stand  standIns     // zero unless on the embedded default

	// cleanup stops the stand-ins; it does not close ln.
	cleanup func()
}

// standIns are the in-process services of the embedded default.
type standIns struct {
	ilos    *ilostest.Server
	secrets *secretstest.Server
}

// start listens on addr and assembles the function and the example page.
// page is the page's settings; an empty TokenURL means the server's own
// token route, and an empty AppURL the ilos stand-in's on the embedded
// default.
func start(ctx context.Context, addr string,
	lookup func(string) (string, bool), logger *slog.Logger,
	page web.Config) (*server, error) {
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	origins := fmt.Sprintf("%s,http://localhost:%d", base,
		ln.Addr().(*net.TCPAddr).Port)

	cfg, awsCfg, stand, cleanup, err := settings(ctx, origins, lookup,
		logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	fail := func(err error) (*server, error) {
		cleanup()
		ln.Close()
		return nil, err
	}

	parts, err := app.New(cfg, awsCfg, logger)
	if err != nil {
		return fail(err)
	}
	if page.TokenURL == "" {
		page.TokenURL = base + handler.DefaultPath
	}
	if page.AppURL == "" && stand.ilos != nil {
		page.AppURL = stand.ilos.URL()
	}
	pageHandler, err := web.Handler(page)
	if err != nil {
		return fail(err)
	}

	srv := &http.Server{
		Handler:           routes(parts.Handler, pageHandler),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	origin := cfg.AllowedOrigins[0]
	if origin == config.Wildcard {
		origin = base
	}
	var notes []string
	if stand.ilos != nil {
		notes = append(notes, "Running on the built-in demo, as "+
			"ILOS_SECRET_ID is unset: in-process Secrets Manager and "+
			"ilos, and a generated key.")
	}
	if !slices.Contains(cfg.AllowedOrigins, base) &&
		!slices.Contains(cfg.AllowedOrigins, config.Wildcard) {
		notes = append(notes, "Warning: ALLOWED_ORIGINS does not list "+
			base+", so the example page's requests will get 403.")
	}
	return &server{
		base:    base,
		origin:  origin,
		notes:   notes,
		ln:      ln,
		srv:     srv,
		page:    pageHandler,
		stand:   stand,
		cleanup: cleanup,
	}, nil
}

// routes sends a GET or HEAD of the example page's files to the page, and
// every other request to the function, which answers it as behind a
// catch-all route: an origin check, then 404 or 405 in its own JSON.
func routes(fn, page http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			isPageFile(r.URL.Path) {
			page.ServeHTTP(w, r)
			return
		}
		fn.ServeHTTP(w, r)
	})
}

// isPageFile reports whether path names the example page or one of its
// files.
func isPageFile(path string) bool {
	name, ok := strings.CutPrefix(path, "/")
	if !ok {
		return false
	}
	if name == "" {
		return true
	}
	_, err := fs.Stat(web.FS(), name)
	return err == nil
}

// listen opens addr, which must be a loopback address: the local server
// has no authentication of its own.
func listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" &&
		(ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("listen address %q is not loopback", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// settings returns the configuration and AWS settings to run on: the
// environment's when ILOS_SECRET_ID is set, else the embedded default and
// its stand-ins.
func settings(ctx context.Context, origins string,
	lookup func(string) (string, bool), logger *slog.Logger) (config.Config,
	aws.Config, standIns, func(), error) {
	if v, _ := lookup(config.EnvSecretID); strings.TrimSpace(v) != "" {
		cfg, err := config.Parse(lookup)
		if err != nil {
			return config.Config{}, aws.Config{}, standIns{}, nil, err
		}
		awsCfg, err := app.LoadAWSConfig(ctx, logger)
		if err != nil {
			return config.Config{}, aws.Config{}, standIns{}, nil, err
		}
		return cfg, awsCfg, standIns{}, func() {}, nil
	}
	return demo(origins, lookup)
}

// demo starts the in-process Secrets Manager and ilos, stores a fresh demo
// key in the one and registers it with the other. Origins are the allowed
// origins unless the environment sets them; it may set every variable but
// ILOS_SECRET_ID and ILOS_API_URL, and setting ILOS_API_URL alone is a
// mistake it refuses: a real ilos needs a real key.
func demo(origins string, lookup func(string) (string, bool)) (
	config.Config, aws.Config, standIns, func(), error) {
	var problems []error
	if v, _ := lookup(config.EnvAPIURL); strings.TrimSpace(v) != "" {
		problems = append(problems, fmt.Errorf("%s: set, but %s is not: "+
			"set %s to use that ilos with your key, or unset %s for the "+
			"built-in demo", config.EnvAPIURL, config.EnvSecretID,
			config.EnvSecretID, config.EnvAPIURL))
	}
	key := rand.Text()
	value, err := json.Marshal(map[string]string{
		"organization": key,
		"user":         key,
	})
	if err != nil {
		return config.Config{}, aws.Config{}, standIns{}, nil, err
	}
	stand := standIns{
		ilos:    ilostest.NewServer(),
		secrets: secretstest.NewServer(),
	}
	stand.ilos.AddKey(key)
	stand.secrets.SetString(demoSecretID, string(value))
	cleanup := func() {
		stand.secrets.Close()
		stand.ilos.Close()
	}

	env := map[string]string{
		config.EnvAllowedOrigins: origins,
	}
	for _, name := range config.Names() {
		if v, ok := lookup(name); ok && v != "" {
			env[name] = v
		}
	}
	env[config.EnvSecretID] = demoSecretID
	env[config.EnvAPIURL] = stand.ilos.URL()
	cfg, err := config.Parse(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		cleanup()
		return config.Config{}, aws.Config{}, standIns{}, nil,
			errors.Join(problems...)
	}
	return cfg, stand.secrets.AWSConfig(), stand, cleanup, nil
}
