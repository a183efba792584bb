// Command pss-check evaluates pods against the Pod Security Standards with the evaluator of
// Kubernetes' own PodSecurity admission plugin (k8s.io/pod-security-admission), so the chart's
// pods are judged by the same code a namespace labelled
// `pod-security.kubernetes.io/enforce: <level>` runs.
//
// Input (stdin): {"level": "restricted", "version": "latest", "pods": [{"name": "...",
// "pod": <a Pod object as JSON>}]}. Output (stdout): one result per pod, in order:
// [{"name": "...", "allowed": bool, "forbidden": [{"reason": "...", "detail": "..."}]}].
package main

import (
	"encoding/json"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

type input struct {
	Level   string `json:"level"`
	Version string `json:"version"`
	Pods    []struct {
		Name string     `json:"name"`
		Pod  corev1.Pod `json:"pod"`
	} `json:"pods"`
}

type forbidden struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

type result struct {
	Name      string      `json:"name"`
	Allowed   bool        `json:"allowed"`
	Forbidden []forbidden `json:"forbidden"`
}

func run() error {
	var in input
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&in); err != nil {
		return fmt.Errorf("reading the pods: %w", err)
	}
	level, err := api.ParseLevel(in.Level)
	if err != nil {
		return err
	}
	version, err := api.ParseVersion(in.Version)
	if err != nil {
		return err
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return err
	}
	results := make([]result, 0, len(in.Pods))
	for _, item := range in.Pods {
		pod := item.Pod
		outcome := policy.AggregateCheckResults(
			evaluator.EvaluatePod(api.LevelVersion{Level: level, Version: version}, &pod.ObjectMeta, &pod.Spec),
		)
		res := result{Name: item.Name, Allowed: outcome.Allowed, Forbidden: []forbidden{}}
		// The evaluator keeps reasons and details index by index.
		for i, reason := range outcome.ForbiddenReasons {
			res.Forbidden = append(res.Forbidden, forbidden{Reason: reason, Detail: outcome.ForbiddenDetails[i]})
		}
		results = append(results, res)
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pss-check:", err)
		os.Exit(2)
	}
}
