// Command workermand is the stock daemon: the CLI plus the built-in handlers.
package main

import (
	_ "github.com/workermand/workermand/handlers/broadcast"
	_ "github.com/workermand/workermand/handlers/channel"
	_ "github.com/workermand/workermand/handlers/demo"
	_ "github.com/workermand/workermand/handlers/echo"
	_ "github.com/workermand/workermand/handlers/exec"
	_ "github.com/workermand/workermand/handlers/globaldata"
	_ "github.com/workermand/workermand/handlers/push"
	_ "github.com/workermand/workermand/handlers/respond"
	_ "github.com/workermand/workermand/handlers/static"
	"github.com/workermand/workermand/workerman"
)

func main() { workerman.RunAll() }
