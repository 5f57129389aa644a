package config

// Test hooks into package variables; tests that use them do not run in
// parallel.

// SetSystemConfig moves /etc/workermand/workermand.toml for a test.
func SetSystemConfig(path string) (restore func()) {
	old := systemConfig
	systemConfig = path
	return func() { systemConfig = old }
}

// SetIDs fakes the effective user and group ids.
func SetIDs(uid, gid int) (restore func()) {
	oldU, oldG := geteuid, getegid
	geteuid = func() int { return uid }
	getegid = func() int { return gid }
	return func() { geteuid, getegid = oldU, oldG }
}

// SetProcFiles moves the /proc files Check reads.
func SetProcFiles(migrate, unprivStart, status string) (restore func()) {
	a, b, c := procTCPMigrateReq, procUnprivPortStart, procSelfStatus
	procTCPMigrateReq, procUnprivPortStart, procSelfStatus = migrate, unprivStart, status
	return func() { procTCPMigrateReq, procUnprivPortStart, procSelfStatus = a, b, c }
}

// Lines exposes the line index of a document.
func Lines(src []byte) map[string]int { return indexLines(src) }

// Keys lists the keys the file may have: global ones and worker ones.
func Keys() (global, worker []string) { return globalKeys, workerKeys }
