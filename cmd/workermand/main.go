// Command workermand is the stock daemon: the CLI plus the built-in handlers.
package main

import (
	"github.com/workermand/workermand/cli"
	_ "github.com/workermand/workermand/handlers/demo"
	_ "github.com/workermand/workermand/handlers/echo"
	_ "github.com/workermand/workermand/handlers/respond"
	_ "github.com/workermand/workermand/handlers/static"
)

func main() { cli.Main() }
