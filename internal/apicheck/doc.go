// Package apicheck holds a test that Herald's public packages are usable
// from another module: no exported name of theirs mentions a type from an
// internal package, which such a module cannot name.
package apicheck
