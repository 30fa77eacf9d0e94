// Command validate loads compose/docker-compose.yml with compose-go, the loader and
// compose-spec JSON schema that `docker compose` itself uses (so `docker compose config`
// would accept the file), then checks the project's rules: the official apache/kafka image,
// each service built from the Dockerfile target of its name with a health check, start-up
// order through `depends_on` conditions, only environment variables the services really
// read (the lists -env-names DIR points to: DIR/identity, DIR/orders and DIR/payments, each
// the output of `<binary> --print-env`, written by scripts/env-names.sh; a missing, empty or
// malformed list is an error), one issuer for all three services,
// the orders-service client key made by the one-shot orders-keygen service and kept away
// from identity, and every data directory on a writable volume. It runs offline (no Docker
// engine needed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	envDir := flag.String("env-names", "", "`DIR` holding identity, orders and payments: each binary's --print-env output (scripts/env-names.sh)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: validate -env-names DIR [docker-compose.yml]")
		flag.PrintDefaults()
	}
	flag.Parse()
	file := "docker-compose.yml"
	if flag.NArg() > 0 {
		file = flag.Arg(0)
	}
	if *envDir == "" {
		fmt.Fprintln(os.Stderr, "compose: INVALID environment variable list: -env-names DIR is required")
		flag.Usage()
		os.Exit(2)
	}
	envNames, err := loadEnvNames(*envDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose: INVALID environment variable list: %v\n", err)
		os.Exit(1)
	}
	project, err := load(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose: INVALID %s: %v\n", file, err)
		os.Exit(1)
	}
	problems := check(project)
	problems = append(problems, checkWiring(project, envNames)...)
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

// ruleEnv names the variables the wiring rules below look at. Each must be one its binary
// reads: a rule about a name nothing reads would pass while checking nothing.
var ruleEnv = map[string][]string{
	"identity": {"IDENTITY_ISSUER", "IDENTITY_DATA_DIR", "IDENTITY_CLIENTS_FILE", "IDENTITY_ORDERS_CLIENT_JWK", "IDENTITY_DEMO"},
	"orders":   {"ORDERS_ISSUER", "ORDERS_JWKS_URI", "ORDERS_TOKEN_ENDPOINT", "ORDERS_DATA_DIR", "ORDERS_CLIENT_KEY"},
	"payments": {"PAYMENTS_ISSUER", "PAYMENTS_JWKS_URI", "PAYMENTS_DATA_DIR"},
}

var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// loadEnvNames reads dir/<binary>, the output of `<binary> --print-env` (one name per line),
// for each service binary. Anything but a non-empty list of names that covers ruleEnv is an
// error, never an empty allow-list or a skipped check.
func loadEnvNames(dir string) (map[string]map[string]bool, error) {
	all := map[string]map[string]bool{}
	for binary, ruled := range ruleEnv {
		path := filepath.Join(dir, binary)
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: expected the output of `%s --print-env` (scripts/env-names.sh)", err, binary)
		}
		if len(text) == 0 {
			return nil, errors.New(path + " is empty: expected the output of `" + binary + " --print-env`")
		}
		names := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
			if !envName.MatchString(line) {
				return nil, fmt.Errorf("%s: %q is not an environment variable name", path, line)
			}
			names[line] = true
		}
		for _, name := range ruled {
			if !names[name] {
				return nil, fmt.Errorf("%s does not read %s, which the wiring rules check: update compose/validate", binary, name)
			}
		}
		all[binary] = names
	}
	return all, nil
}

func env(service types.ServiceConfig, name string) string {
	if v, ok := service.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

// argAfter returns the value following flag in args ("" if absent).
func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// volumeAt returns the named volume (or bind source) whose mount target contains path.
func volumeAt(service types.ServiceConfig, path string) (types.ServiceVolumeConfig, bool) {
	for _, v := range service.Volumes {
		if path == v.Target || strings.HasPrefix(path, strings.TrimSuffix(v.Target, "/")+"/") {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

func checkWiring(project *types.Project, envNames map[string]map[string]bool) []string {
	var problems []string
	services := map[string]types.ServiceConfig{}
	for _, name := range []string{"identity", "orders", "payments", "orders-keygen"} {
		service, ok := project.Services[name]
		if !ok {
			return []string{"service " + name + " is missing"}
		}
		services[name] = service
	}
	// Only variables the binaries read: a misspelled or guessed name is silently ignored at
	// run time. orders-keygen runs the orders binary.
	for name, service := range services {
		binary := strings.TrimSuffix(name, "-keygen")
		for variable := range service.Environment {
			if !envNames[binary][variable] {
				problems = append(problems, fmt.Sprintf("%s: %s is not read by %s (`%s --print-env`)", name, variable, binary, binary))
			}
		}
	}
	// One issuer: tokens carry identity's issuer; orders and payments check exactly it and
	// fetch its keys.
	identity, orders, payments, keygen := services["identity"], services["orders"], services["payments"], services["orders-keygen"]
	issuer := env(identity, "IDENTITY_ISSUER")
	if issuer == "" {
		problems = append(problems, "identity: IDENTITY_ISSUER must be set (the default is derived from the listen address)")
	}
	for _, pair := range [][2]string{
		{"ORDERS_ISSUER", issuer}, {"PAYMENTS_ISSUER", issuer},
		{"ORDERS_JWKS_URI", issuer + "/jwks"}, {"PAYMENTS_JWKS_URI", issuer + "/jwks"},
		{"ORDERS_TOKEN_ENDPOINT", issuer + "/token"},
	} {
		service := orders
		if strings.HasPrefix(pair[0], "PAYMENTS_") {
			service = payments
		}
		if got := env(service, pair[0]); got != pair[1] && (got != "" || strings.HasSuffix(pair[0], "_ISSUER")) {
			problems = append(problems, fmt.Sprintf("%s is %q, want %q (identity's issuer)", pair[0], got, pair[1]))
		}
	}
	// The client key pair: made once by orders-keygen before orders and identity start.
	if keygen.Build == nil || keygen.Build.Target != "orders" || len(keygen.Command) == 0 || keygen.Command[0] != "keygen" {
		problems = append(problems, "orders-keygen must run `orders keygen` from the Dockerfile target orders")
	}
	for _, name := range []string{"identity", "orders"} {
		if got, ok := services[name].DependsOn["orders-keygen"]; !ok || got.Condition != types.ServiceConditionCompletedSuccessfully {
			problems = append(problems, name+" must depend on orders-keygen with condition "+types.ServiceConditionCompletedSuccessfully)
		}
	}
	keyPath := argAfter(keygen.Command, "--client-key")
	jwkPath := argAfter(keygen.Command, "--public-jwk")
	keyVolume, keyMounted := volumeAt(keygen, keyPath)
	jwkVolume, jwkMounted := volumeAt(keygen, jwkPath)
	if !keyMounted || !jwkMounted || keyVolume.Source == jwkVolume.Source {
		problems = append(problems, "orders-keygen must write --client-key and --public-jwk into two different volumes")
	} else {
		if env(orders, "ORDERS_CLIENT_KEY") != keyPath {
			problems = append(problems, "orders: ORDERS_CLIENT_KEY must be "+keyPath+" (written by orders-keygen)")
		} else if v, ok := volumeAt(orders, keyPath); !ok || v.Source != keyVolume.Source || v.Target != keyVolume.Target {
			problems = append(problems, "orders must mount volume "+keyVolume.Source+" at "+keyVolume.Target)
		}
		for _, v := range identity.Volumes {
			if v.Source == keyVolume.Source {
				problems = append(problems, "identity must not mount "+v.Source+": it holds the orders-service private key")
			}
		}
		jwkEnv := env(identity, "IDENTITY_ORDERS_CLIENT_JWK")
		if v, ok := volumeAt(identity, jwkEnv); jwkEnv != jwkPath || !ok || v.Source != jwkVolume.Source || !v.ReadOnly {
			problems = append(problems, "identity: IDENTITY_ORDERS_CLIENT_JWK must be "+jwkPath+" on volume "+jwkVolume.Source+" mounted read-only")
		}
		if env(identity, "IDENTITY_DEMO") != "true" && env(identity, "IDENTITY_CLIENTS_FILE") == "" {
			problems = append(problems, "identity: IDENTITY_ORDERS_CLIENT_JWK is used only with IDENTITY_DEMO=true (or register orders-service in IDENTITY_CLIENTS_FILE)")
		}
	}
	// Read-only root filesystem: each data directory must be a writable volume.
	for name, variable := range map[string]string{"identity": "IDENTITY_DATA_DIR", "orders": "ORDERS_DATA_DIR", "payments": "PAYMENTS_DATA_DIR"} {
		dir := env(services[name], variable)
		if v, ok := volumeAt(services[name], dir); dir == "" || !ok || v.ReadOnly {
			problems = append(problems, fmt.Sprintf("%s: %s %q must be on a writable volume (read-only root filesystem)", name, variable, dir))
		}
		if services[name].User != "" && services[name].User != "10001:10001" && services[name].User != "10001" {
			problems = append(problems, name+" must run as uid 10001 (the image's user)")
		}
	}
	return problems
}
