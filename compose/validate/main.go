// Command validate loads compose/docker-compose.yml with compose-go, the loader and
// compose-spec JSON schema that `docker compose` itself uses (so `docker compose config`
// would accept the file), then checks the project's rules: the official apache/kafka image,
// each service built from the Dockerfile target of its name with a health check, and
// start-up order through `depends_on` conditions. It runs offline (no Docker engine needed).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	file := "docker-compose.yml"
	if len(os.Args) > 1 {
		file = os.Args[1]
	}
	project, err := load(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose: INVALID %s: %v\n", file, err)
		os.Exit(1)
	}
	problems := check(project)
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "compose: INVALID %s: %s\n", file, p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("compose: %s valid (compose-spec schema via compose-go) with services %s\n",
		file, strings.Join(project.ServiceNames(), ", "))
}

func load(file string) (*types.Project, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	options, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithName("zte"),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return options.LoadProject(context.Background())
}

func check(project *types.Project) []string {
	var problems []string
	kafka, ok := project.Services["kafka"]
	if !ok || !strings.HasPrefix(kafka.Image, "apache/kafka:") {
		problems = append(problems, "service kafka must use the official apache/kafka image")
	} else if kafka.Environment["KAFKA_PROCESS_ROLES"] == nil || !strings.Contains(*kafka.Environment["KAFKA_PROCESS_ROLES"], "controller") {
		problems = append(problems, "kafka must run in KRaft mode (KAFKA_PROCESS_ROLES with controller)")
	}
	if kafka.HealthCheck == nil || len(kafka.HealthCheck.Test) == 0 {
		problems = append(problems, "kafka needs a health check")
	}
	for _, name := range []string{"identity", "orders", "payments"} {
		service, ok := project.Services[name]
		if !ok {
			problems = append(problems, "service "+name+" is missing")
			continue
		}
		if service.Build == nil || service.Build.Target != name {
			problems = append(problems, name+" must be built from the Dockerfile target "+name)
		} else if _, err := os.Stat(filepath.Join(service.Build.Context, service.Build.Dockerfile)); err != nil {
			problems = append(problems, name+": Dockerfile not found: "+err.Error())
		}
		if service.HealthCheck == nil || len(service.HealthCheck.Test) == 0 {
			problems = append(problems, name+" needs a health check")
		}
		if !service.ReadOnly || !slices.Contains(service.CapDrop, "ALL") {
			problems = append(problems, name+" must run read-only with all capabilities dropped")
		}
		if name == "identity" {
			continue
		}
		wants := map[string]string{
			"kafka-topics": types.ServiceConditionCompletedSuccessfully,
			"identity":     types.ServiceConditionHealthy,
		}
		for dep, condition := range wants {
			if got, ok := service.DependsOn[dep]; !ok || got.Condition != condition {
				problems = append(problems, fmt.Sprintf("%s must depend on %s with condition %s", name, dep, condition))
			}
		}
		if !strings.Contains(strings.Join(service.HealthCheck.Test, " "), "grpc-health-probe") {
			problems = append(problems, name+" health check must use grpc-health-probe")
		}
	}
	return problems
}
