// Package semconvtest is an empty stand-in; see go.mod for why it exists.
package semconvtest
