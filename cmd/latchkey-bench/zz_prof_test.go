package main

import (
	"testing"
	"time"
)

func TestProfSeed(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	_, err := seed(t.Context(), dir, 10000, 300000, 10000, 2, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(time.Since(start))
}
