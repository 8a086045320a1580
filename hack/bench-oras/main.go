// bench-oras: what `oras tag` and `oras cp` do, for hack/bench-promote.
//
// Why it exists: the oras CLI (module oras.land/oras) cannot be downloaded here, the Go module
// proxy refuses its host, but oras-go v2 (oras.land/oras-go/v2), the library the CLI is built
// on, can be. This program makes the library calls behind these two commands: oras.Tag for
// `oras tag`, and oras.Copy with the default copy options for `oras cp`, plus, within one
// registry, a cross-repository mount from the source repository (oras-go's MountFrom), so that
// oras gets the same no-upload path as crane and promote.
// Plain HTTP, anonymous: the benchmark's registry is a local one.
//
// Usage:
//
//	bench-oras tag REGISTRY/REPO@DIGEST TAG
//	bench-oras cp REGISTRY/REPO@DIGEST REGISTRY/REPO:TAG
package main

import (
	"context"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
)

func repository(ref string) (*remote.Repository, registry.Reference, error) {
	parsed, err := registry.ParseReference(ref)
	if err != nil {
		return nil, parsed, err
	}
	repo, err := remote.NewRepository(parsed.Registry + "/" + parsed.Repository)
	if err != nil {
		return nil, parsed, err
	}
	repo.PlainHTTP = true
	return repo, parsed, nil
}

func run(args []string) error {
	ctx := context.Background()
	switch {
	case len(args) == 3 && args[0] == "tag":
		repo, ref, err := repository(args[1])
		if err != nil {
			return err
		}
		_, err = oras.Tag(ctx, repo, ref.Reference, args[2])
		return err
	case len(args) == 3 && args[0] == "cp":
		src, srcRef, err := repository(args[1])
		if err != nil {
			return err
		}
		dst, dstRef, err := repository(args[2])
		if err != nil {
			return err
		}
		opts := oras.DefaultCopyOptions
		if srcRef.Registry == dstRef.Registry {
			from := srcRef.Repository
			opts.MountFrom = func(context.Context, ocispec.Descriptor) ([]string, error) {
				return []string{from}, nil
			}
		}
		_, err = oras.Copy(ctx, src, srcRef.Reference, dst, dstRef.Reference, opts)
		return err
	default:
		return fmt.Errorf("usage: bench-oras tag REPO@DIGEST TAG | bench-oras cp REPO@DIGEST REPO:TAG")
	}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench-oras:", err)
		os.Exit(1)
	}
}
