// runc-capfix: an OCI runtime in front of runc for machines whose every process lacks some capability in its
// bounding set (this test bed: CAP_SYS_RESOURCE, dropped by the VM's init). A privileged container asks runc for
// every capability Docker knows, runc's capset then fails ("unable to apply caps: operation not permitted"), and
// no privileged container (k3d's nodes) can start. This wrapper removes from the container's capability sets
// the capabilities that are not in its own bounding set (which no process here could hold anyway), then execs
// runc with the same arguments. Specs that ask for no such capability are left untouched.
// Without CAP_SYS_RESOURCE a process cannot lower its oom_score_adj either, and runc's init fails on a spec that
// asks for less than the caller's own ("can't get final child's PID from pipe: EOF"): the kubelet asks -998 for
// critical pods and -997 for Guaranteed ones. Such a process.oomScoreAdj is raised to the caller's own value.
//
//	runc-capfix [runc global flags] create|run --bundle DIR ...   patches DIR/config.json (process.capabilities)
//	runc-capfix [runc global flags] exec --process FILE ...       patches FILE (capabilities)
//
// The runc it execs: $RUNC_CAPFIX_RUNC, else /usr/sbin/runc, else /usr/bin/runc.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capability numbers (linux/capability.h)
var capNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
	"CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
	"CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
	"CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

func boundingSet() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

// filter drops, from each capability list of caps, the names outside bnd; true when something was dropped
func filter(caps map[string]any, bnd uint64) bool {
	changed := false
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(list))
		for _, c := range list {
			name, _ := c.(string)
			if n, known := capNumbers[name]; known && bnd&(1<<n) == 0 {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	return changed
}

// ownOOMScoreAdj is this process's oom_score_adj (what runc's init inherits and cannot go below)
func ownOOMScoreAdj() (float64, bool) {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return float64(v), err == nil
}

// patch rewrites the JSON file in place when its capabilities (at path keys) name one outside bnd, or its
// oomScoreAdj (in the object holding the capabilities) is below what can be had without CAP_SYS_RESOURCE
func patch(file string, bnd uint64, keys ...string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	proc := doc
	for _, k := range keys[:len(keys)-1] {
		next, ok := proc[k].(map[string]any)
		if !ok {
			return nil
		}
		proc = next
	}
	changed := false
	if caps, ok := proc[keys[len(keys)-1]].(map[string]any); ok {
		changed = filter(caps, bnd)
	}
	if adj, ok := proc["oomScoreAdj"].(float64); ok && bnd&(1<<capNumbers["CAP_SYS_RESOURCE"]) == 0 {
		if own, ok := ownOOMScoreAdj(); ok && adj < own {
			proc["oomScoreAdj"] = own
			changed = true
		}
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp := file + ".capfix"
	if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// flagValue finds --name VALUE / --name=VALUE / -short VALUE in args
func flagValue(args []string, long, short string) string {
	for i, a := range args {
		for _, n := range []string{long, short} {
			if n == "" {
				continue
			}
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

func subcommand(args []string) (string, []string) {
	for i, a := range args {
		switch a {
		case "create", "run", "exec":
			return a, args[i+1:]
		}
	}
	return "", nil
}

func main() {
	args := os.Args[1:]
	if bnd, err := boundingSet(); err == nil && bnd != 0 {
		var perr error
		switch sub, rest := subcommand(args); sub {
		case "create", "run":
			bundle := flagValue(rest, "--bundle", "-b")
			if bundle == "" {
				bundle = "."
			}
			perr = patch(filepath.Join(bundle, "config.json"), bnd, "process", "capabilities")
		case "exec":
			if p := flagValue(rest, "--process", "-p"); p != "" {
				perr = patch(p, bnd, "capabilities")
			}
		}
		if perr != nil {
			fmt.Fprintln(os.Stderr, "runc-capfix:", perr)
		}
	}
	runc := os.Getenv("RUNC_CAPFIX_RUNC")
	for _, c := range []string{runc, "/usr/sbin/runc", "/usr/bin/runc"} {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			runc = c
			break
		}
	}
	err := syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "runc-capfix: exec", runc+":", err)
	os.Exit(127)
}
