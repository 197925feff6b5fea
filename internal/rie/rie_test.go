package rie_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ilostoken/ilostoken/internal/logbuf"
	"github.com/ilostoken/ilostoken/internal/rie"
)

// tools builds the emulator and the hello-world bootstrap, or skips the
// test when the go command is missing (failing instead under CI).
func tools(t *testing.T) (emulator, bootstrap string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the go command is needed to build the emulator: %v",
				err)
		}
		t.Skipf("the go command is needed to build the emulator: %v", err)
	}
	dir := t.TempDir()
	emulator, err := rie.BuildEmulator(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err = rie.Build(t.Context(), dir, "bootstrap",
		"github.com/ilostoken/ilostoken/internal/cmd/hello")
	if err != nil {
		t.Fatal(err)
	}
	return emulator, bootstrap
}

func TestEmulatorRunsBootstrap(t *testing.T) {
	emulator, bootstrap := tools(t)
	var out logbuf.Buffer
	e, err := rie.Start(t.Context(), rie.Options{
		Emulator:  emulator,
		Bootstrap: bootstrap,
		Output:    &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)

	for i := range 2 {
		got, err := e.Invoke(t.Context(), []byte(`{}`))
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		want := `{"statusCode":200,"body":"hello"}`
		if string(got) != want {
			t.Errorf("invocation %d: got %s, want %s", i, got, want)
		}
	}

	initDur, err := e.InitDuration(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if initDur <= 0 {
		t.Errorf("got init duration %v, want > 0", initDur)
	}

	pid, err := e.FunctionPID()
	if err != nil {
		t.Fatal(err)
	}
	rss, err := rie.PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<30 {
		t.Errorf("got peak RSS %d bytes, want between 1 MiB and 1 GiB", rss)
	}

	e.Stop()
	if rie.Running(pid) {
		t.Errorf("bootstrap %d still running after Stop", pid)
	}
	if !strings.Contains(out.String(), "REPORT RequestId") {
		t.Errorf("output lacks the REPORT line:\n%s", out.String())
	}
}

func TestStartRefusesMissingBinaries(t *testing.T) {
	tests := []struct {
		name string
		opts rie.Options
	}{
		{"no emulator", rie.Options{Bootstrap: "/bin/true"}},
		{"no bootstrap", rie.Options{Emulator: "/bin/true"}},
		{"emulator exits", rie.Options{
			Emulator: "/bin/true", Bootstrap: "/bin/true",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := rie.Start(t.Context(), tt.opts)
			if err == nil {
				e.Stop()
				t.Fatal("got no error, want one")
			}
		})
	}
}

func TestPeakRSSOfThisProcess(t *testing.T) {
	got, err := rie.PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got <= 0 {
		t.Errorf("got %d, want > 0", got)
	}
	if _, err := rie.PeakRSS(-1); err == nil {
		t.Error("PeakRSS(-1): got no error, want one")
	}
}

func TestRunning(t *testing.T) {
	if !rie.Running(os.Getpid()) {
		t.Error("Running(this process): got false, want true")
	}
	if rie.Running(-1) {
		t.Error("Running(-1): got true, want false")
	}
}
