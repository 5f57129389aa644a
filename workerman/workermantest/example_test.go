package workermantest_test

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// A test of a worker that answers each line in upper case and counts the
// lines it saw. In a test file this is the body of a func TestUpper(t
// *testing.T); here t stands for that test's own, so the example is
// compiled but not run (TestStartDialOnLoop runs the same steps).
func Example() {
	var t *testing.T

	lines := 0 // belongs to the loop, like all of a worker's state
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		lines++
		c.Send(bytes.ToUpper(m.Data))
	}
	p := workermantest.Start(t, w) // stopped when the test ends

	c := workermantest.Dial(t, w) // closed when the test ends
	c.Write([]byte("hello\n"))
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "HELLO\n" {
		t.Fatalf("got %q, %v; want HELLO", got, err)
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), func() int { return lines }); n != 1 {
		t.Errorf("the worker saw %d lines, want 1", n)
	}
}
