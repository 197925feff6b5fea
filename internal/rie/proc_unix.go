//go:build unix

package rie

import "syscall"

// killGroup kills the process group that process pid leads.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
