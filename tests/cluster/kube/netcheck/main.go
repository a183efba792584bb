// Command netcheck is the test image's program, so that a pod can serve and a second pod can
// prove it reaches the first over the pod network; no registry with busybox is reachable.
//
//	netcheck serve ADDR   answer every HTTP request with "netcheck ok <hostname>"
//	netcheck get URL...   GET each URL (retrying for up to 60 s), print the body, exit 0;
//	                      exit 1 if one never answered 200
//	netcheck dial ADDR... open one TCP connection to each HOST:PORT (3 s at most) and print
//	                      "ADDR open" or "ADDR closed: <error>"; exit 0 either way
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func serve(addr string) error {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "netcheck ok %s\n", host)
	})
	return http.ListenAndServe(addr, nil)
}

func get(url string) error {
	// A new connection for every try: a connection opened before kube-proxy wrote a Service's
	// rules goes elsewhere (the default route), and keeping it alive would repeat that answer.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				fmt.Printf("%s: %s", url, body)
				return nil
			}
			err = fmt.Errorf("HTTP %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", url, err)
		}
		fmt.Fprintf(os.Stderr, "%s: %v (retrying)\n", url, err)
		time.Sleep(time.Second)
	}
}

func dial(addr string) {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		fmt.Printf("%s closed: %v\n", addr, err)
		return
	}
	conn.Close()
	fmt.Printf("%s open\n", addr)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: netcheck serve ADDR | netcheck get URL... | netcheck dial HOST:PORT...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		if err := serve(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "get":
		for _, url := range os.Args[2:] {
			if err := get(url); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	case "dial":
		for _, addr := range os.Args[2:] {
			dial(addr)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
