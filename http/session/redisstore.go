package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps each session in a Redis string key Prefix+id that
// expires with the session, so GC has nothing to do.
type RedisStore struct {
	Client *redis.Client
	// Prefix starts every key; DefaultRedisPrefix when empty.
	Prefix string
}

// DefaultRedisPrefix is the key prefix of a RedisStore with none set.
const DefaultRedisPrefix = "workermand:session:"

// RedisOptions configure NewRedisStore.
type RedisOptions struct {
	// Addr is host:port; "127.0.0.1:6379" when empty.
	Addr string
	// Username and Password authenticate (Username for Redis 6 ACLs).
	Username, Password string
	// DB is the database number.
	DB int
	// Prefix starts every key; DefaultRedisPrefix when empty.
	Prefix string
}

// NewRedisStore returns a store with its own client. It does not connect
// until the first command; Close releases the client's connections.
func NewRedisStore(opts RedisOptions) *RedisStore {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:6379"
	}
	return &RedisStore{
		Client: redis.NewClient(&redis.Options{
			Addr:     opts.Addr,
			Username: opts.Username,
			Password: opts.Password,
			DB:       opts.DB,
		}),
		Prefix: opts.Prefix,
	}
}

// Close closes the client.
func (s *RedisStore) Close() error { return s.Client.Close() }

func (s *RedisStore) key(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if s.Prefix == "" {
		return DefaultRedisPrefix + id, nil
	}
	return s.Prefix + id, nil
}

// Load implements Store.
func (s *RedisStore) Load(ctx context.Context, id string) ([]byte, error) {
	k, err := s.key(id)
	if err != nil {
		return nil, err
	}
	b, err := s.Client.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session: redis GET: %w", err)
	}
	return b, nil
}

// Save implements Store.
func (s *RedisStore) Save(ctx context.Context, id string, data []byte, lifetime time.Duration) error {
	k, err := s.key(id)
	if err != nil {
		return err
	}
	if lifetime < time.Millisecond {
		// go-redis treats 0 as "no expiry", which a session must never get.
		lifetime = time.Millisecond
	}
	if err := s.Client.Set(ctx, k, data, lifetime).Err(); err != nil {
		return fmt.Errorf("session: redis SET: %w", err)
	}
	return nil
}

// Delete implements Store.
func (s *RedisStore) Delete(ctx context.Context, id string) error {
	k, err := s.key(id)
	if err != nil {
		return err
	}
	if err := s.Client.Del(ctx, k).Err(); err != nil {
		return fmt.Errorf("session: redis DEL: %w", err)
	}
	return nil
}

// GC implements Store; keys expire by themselves.
func (s *RedisStore) GC(context.Context, time.Duration) error { return nil }
