// k3d-tools for the test bed: what k3d v5.9.0 runs in its tools container (ghcr.io/k3d-io/k3d-tools), written
// here because k3d's tools/ module is not on the Go module proxy. Same command line:
//
//	k3d-tools save-image|save [-d|--dest|--destination PATH] [-c|--cluster NAME] IMAGE...
//	k3d-tools noop          # sleep until stopped (k3d execs the other commands in this container)
//
// save-image asks the Docker engine (DOCKER_HOST, default unix:///var/run/docker.sock) for `docker save` of the
// images (GET /images/get) and writes the tar to PATH; a PATH not ending in .tar is a directory, in which
// k3d-<cluster>-images-<timestamp>.tar is written.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const version = "v5.9.0-devstack-standin"

func usage() {
	fmt.Fprintln(os.Stderr, "usage: k3d-tools save-image [-d DEST] [-c CLUSTER] IMAGE... | noop | --version")
	os.Exit(2)
}

func dockerClient() (*http.Client, string) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	if strings.HasPrefix(host, "unix://") {
		sock := strings.TrimPrefix(host, "unix://")
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}, "http://docker"
	}
	return &http.Client{}, "http://" + strings.TrimPrefix(host, "tcp://")
}

func saveImages(dest, cluster string, images []string) error {
	if len(images) == 0 {
		return fmt.Errorf("no image named")
	}
	tarName := dest
	if !strings.HasSuffix(dest, ".tar") {
		if !strings.HasSuffix(dest, "/") {
			dest += "/"
		}
		tarName = fmt.Sprintf("%sk3d-%s-images-%s.tar", dest, cluster, time.Now().Format("20060102150405"))
	}
	client, base := dockerClient()
	q := url.Values{}
	for _, img := range images {
		q.Add("names", img)
	}
	resp, err := client.Get(base + "/images/get?" + q.Encode())
	if err != nil {
		return fmt.Errorf("couldn't save images %v: %w", images, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("couldn't save images %v: %s: %s", images, resp.Status, strings.TrimSpace(string(msg)))
	}
	f, err := os.Create(tarName)
	if err != nil {
		return fmt.Errorf("couldn't create tarfile [%s]: %w", tarName, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		os.Remove(tarName)
		return fmt.Errorf("couldn't save image stream to tarfile: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("INFO: saved images %v to [%s]\n", images, tarName)
	return nil
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "--version", "-v", "version":
		fmt.Println("k3d-tools version", version)
	case "noop":
		fmt.Println("Sleeping until stopped")
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
	case "save-image", "save":
		dest, cluster := "/images", "k3s-default"
		var images []string
		args := os.Args[2:]
		for i := 0; i < len(args); i++ {
			a := args[i]
			name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "-") {
				images = append(images, a)
				continue
			}
			if !hasVal {
				if i+1 >= len(args) {
					usage()
				}
				i++
				val = args[i]
			}
			switch name {
			case "d", "dest", "destination":
				dest = val
			case "c", "cluster":
				cluster = val
			default:
				usage()
			}
		}
		if err := saveImages(dest, cluster, images); err != nil {
			fmt.Fprintln(os.Stderr, "ERROR:", err)
			os.Exit(1)
		}
	default:
		usage()
	}
}
