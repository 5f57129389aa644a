// Command mysqlclient is an HTTP API on MySQL or MariaDB (the manual's
// MySQL client, 1.15.4): database/sql with github.com/go-sql-driver/mysql,
// every query run off the event loop through workerman.Async with a
// deadline, its rows answered from the loop.
//
//	go run ./mysqlclient start
//	curl -d 'buy milk' http://127.0.0.1:7100/notes
//	curl http://127.0.0.1:7100/notes
//	curl http://127.0.0.1:7100/version
//
// database/sql blocks the goroutine that calls it, so a query on the loop
// would stall every connection of the process until the server answered.
// Through Async the loop goes on serving (try /ping while the server is
// stopped with kill -STOP); the query's context ends after
// MYSQLCLIENT_TIMEOUT, the driver then closes its connection, and the
// request gets 504; a server that is down gets 502 with the driver's error.
//
// MYSQLCLIENT_ADDR is the address (127.0.0.1:7100), MYSQLCLIENT_DSN the
// database (root@tcp(127.0.0.1:3306)/, the go-sql-driver/mysql format; the
// example makes its own database, workermand_example), MYSQLCLIENT_TIMEOUT
// each query's deadline (2s).
package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/workermand/workermand/examples/internal/backend"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// The process's pool and its bound on queries in flight, set up in
// OnWorkerStart: each process has its own.
var (
	db    *sql.DB
	calls backend.Calls
	// schemaReady is set once the table exists, so later requests skip
	// the CREATE. Loop-only: read before a query starts, set in its done.
	schemaReady bool
)

const schema = `CREATE DATABASE IF NOT EXISTS workermand_example;
CREATE TABLE IF NOT EXISTS workermand_example.notes (
	id BIGINT AUTO_INCREMENT PRIMARY KEY,
	body TEXT NOT NULL,
	created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)`

func main() {
	w := workerman.NewWorker("http://" + backend.Env("MYSQLCLIENT_ADDR", "127.0.0.1:7100"))
	w.Name = "mysqlclient"
	w.OnWorkerStart = func(*workerman.Worker) {
		cfg, err := mysql.ParseDSN(backend.Env("MYSQLCLIENT_DSN", "root@tcp(127.0.0.1:3306)/"))
		if err != nil {
			panic(fmt.Errorf("MYSQLCLIENT_DSN: %w", err))
		}
		cfg.MultiStatements = true // the schema is two statements
		cfg.ParseTime = true
		cfg.Timeout = 2 * time.Second // connecting, apart from the query's own deadline
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			panic(fmt.Errorf("MYSQLCLIENT_DSN: %w", err))
		}
		// sql.OpenDB connects lazily: nothing here blocks the loop.
		db = sql.OpenDB(connector)
		calls = backend.Calls{Timeout: backend.Duration("MYSQLCLIENT_TIMEOUT", 2*time.Second), Max: 64}
		// As many connections as calls may be in flight: a call never
		// waits for the pool, only for the server.
		db.SetMaxOpenConns(calls.Max)
		db.SetMaxIdleConns(8)
	}
	w.OnWorkerStop = func(*workerman.Worker) { db.Close() }
	w.OnMessage = backend.Serve(map[string]backend.Route{
		"/notes":   notes,
		"/version": version,
	})
	workerman.RunAll(w)
}

type note struct {
	ID      int64     `json:"id"`
	Body    string    `json:"body"`
	Created time.Time `json:"created"`
}

// notes adds the request's body as a note (POST) or lists the last ten
// (GET).
func notes(c *workerman.Connection, req *http.Request) {
	var work func(ctx context.Context) (any, error)
	switch req.Method() {
	case "POST":
		body := string(req.RawBody()) // a copy: the request is reused once answered
		work = func(ctx context.Context) (any, error) {
			res, err := db.ExecContext(ctx, "INSERT INTO workermand_example.notes (body) VALUES (?)", body)
			if err != nil {
				return nil, fmt.Errorf("insert: %w", err)
			}
			id, err := res.LastInsertId()
			return map[string]int64{"id": id}, err
		}
	case "GET":
		work = func(ctx context.Context) (any, error) {
			return lastNotes(ctx)
		}
	default:
		backend.Reply(c, 405, map[string]string{"error": "GET or POST"})
		return
	}
	ready := schemaReady
	backend.Do(c.Loop(), &calls, "mysql", func(ctx context.Context) (any, error) {
		if !ready {
			if _, err := db.ExecContext(ctx, schema); err != nil {
				return nil, fmt.Errorf("create the table: %w", err)
			}
		}
		return work(ctx)
	}, func(v any, err error) {
		if err != nil {
			backend.Fail(c, err)
			return
		}
		schemaReady = true
		backend.Reply(c, 200, v)
	})
}

func lastNotes(ctx context.Context) ([]note, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, body, created FROM workermand_example.notes ORDER BY id DESC LIMIT 10")
	if err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	defer rows.Close()
	list := []note{}
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.ID, &n.Body, &n.Created); err != nil {
			return nil, fmt.Errorf("select: %w", err)
		}
		list = append(list, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	return list, nil
}

// version answers the server's SELECT VERSION().
func version(c *workerman.Connection, _ *http.Request) {
	backend.Do(c.Loop(), &calls, "mysql", func(ctx context.Context) (string, error) {
		var v string
		err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
		return v, err
	}, func(v string, err error) {
		if err != nil {
			backend.Fail(c, err)
			return
		}
		backend.Reply(c, 200, map[string]string{"version": v})
	})
}
