package config

// programName names the workers a program defines in code in problems.
const programName = "(program)"

// addCode appends the workers a program defines in code (Hooks.Code) to
// the file's and returns their problems: a name or address the file's
// workers hold already is reported at the code worker.
func (c *Config) addCode(tables []map[string]any) []Problem {
	if len(tables) == 0 {
		return nil
	}
	ck := &checker{file: programName, lines: lineIndex{}, code: true}
	for i, m := range tables {
		for _, k := range []string{"handler", "options", "http", "websocket", "tls"} {
			if _, ok := m[k]; ok {
				ck.add(indexKey("RunAll", i), "a worker defined in code keeps its %s in the program", k)
				delete(m, k)
			}
		}
		w := ck.worker(i, m)
		w.Handler = ""
		c.Workers = append(c.Workers, w)
	}
	ck.crossCheck(c.Workers)
	return ck.probs
}

// Sets reports whether the file sets the top-level key, so that settings a
// program makes in code apply only where the file is silent.
func (c *Config) Sets(key string) bool { _, ok := c.lines[key]; return ok }
