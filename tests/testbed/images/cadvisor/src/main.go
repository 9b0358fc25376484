// devstack test bed: the main package of the cAdvisor stand-in (see ../README.md).
//
// The Go module proxy reachable from the test machines serves cAdvisor's library modules at v0.61.0
// (github.com/google/cadvisor and github.com/google/cadvisor/lib) but not the command module
// github.com/google/cadvisor/cmd, which upstream never tags. This file is the test bed's own main over those
// library modules: the same collection (manager, container and filesystem plugins, perf/resctrl/summary/
// cpu-load/app-metrics seams, the kernel-log OOM watcher) and the same Prometheus exposition as upstream's
// binary, with the same flag names and defaults for what it serves. Not here: the web UI, the /api/ REST API,
// the storage drivers (bigquery, elasticsearch, influxdb, kafka, redis, statsd, stdout), HTTP auth and the
// cloud-provider probes (AWS/Azure/GCE metadata).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/cadvisor/collector"
	"github.com/google/cadvisor/events"
	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/manager"
	"github.com/google/cadvisor/lib/metrics"
	model "github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/stats"
	"github.com/google/cadvisor/lib/utils/sysfs"
	"github.com/google/cadvisor/lib/version"
	"github.com/google/cadvisor/perf"
	"github.com/google/cadvisor/resctrl"
	"github.com/google/cadvisor/summary"
	"github.com/google/cadvisor/utils/cpuload"
	"github.com/google/cadvisor/utils/oomparser"
	"github.com/google/cadvisor/validate"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	// container runtimes and filesystems, the set upstream's binary registers
	_ "github.com/google/cadvisor/container/docker/install"
	_ "github.com/google/cadvisor/container/podman/install"
	_ "github.com/google/cadvisor/fs/devicemapper/install"
	_ "github.com/google/cadvisor/lib/container/containerd/install"
	_ "github.com/google/cadvisor/lib/container/crio/install"
	_ "github.com/google/cadvisor/lib/container/systemd/install"
	_ "github.com/google/cadvisor/lib/fs/btrfs/install"
	_ "github.com/google/cadvisor/lib/fs/nfs/install"
	_ "github.com/google/cadvisor/lib/fs/overlay/install"
	_ "github.com/google/cadvisor/lib/fs/tmpfs/install"
	_ "github.com/google/cadvisor/lib/fs/vfs/install"
	_ "github.com/google/cadvisor/lib/fs/zfs/install"
	_ "github.com/google/cadvisor/resctrl/intel/install"
)

// the flags of upstream's command (the library packages register the rest: housekeeping_interval, docker_only,
// max_housekeeping_interval, event_storage_*, application_metrics_count_limit, ...)
var (
	listenIP           = flag.String("listen_ip", "", "IP to listen on, defaults to all IPs")
	port               = flag.Int("port", 8080, "port to listen")
	maxProcs           = flag.Int("max_procs", 0, "max number of CPUs that can be used simultaneously. Less than 1 for default (number of cores).")
	printVersion       = flag.Bool("version", false, "print cAdvisor version and exit")
	prometheusEndpoint = flag.String("prometheus_endpoint", "/metrics", "Endpoint to expose Prometheus metrics on")
	profiling          = flag.Bool("profiling", false, "Enable profiling via web interface host:port/debug/pprof/")
	collectorCert      = flag.String("collector_cert", "", "Collector's certificate, exposed to endpoints for certificate based authentication.")
	collectorKey       = flag.String("collector_key", "", "Key for the collector's certificate")
	storeLabels        = flag.Bool("store_container_labels", true, "convert container labels and environment variables into labels on prometheus metrics for each container. If flag set to false, then only metrics exported are container name, first alias, and image name")
	whitelistedLabels  = flag.String("whitelisted_container_labels", "", "comma separated list of container labels to be converted to labels on prometheus metrics for each container. store_container_labels must be set to false for this to take effect.")
	envWhitelist       = flag.String("env_metadata_whitelist", "", "a comma-separated list of environment variable keys matched with specified prefix that needs to be collected for containers, only support containerd and docker runtime for now.")
	urlBasePrefix      = flag.String("url_base_prefix", "", "prefix path that will be prepended to all paths to support some reverse proxies")
	rawCgroupWhitelist = flag.String("raw_cgroup_prefix_whitelist", "", "A comma-separated list of cgroup path prefix that needs to be collected even when -docker_only is specified")
	perfEventsConfig   = flag.String("perf_events_config", "", "Path to a JSON file containing configuration of perf events to measure. Empty value disabled perf events measuring.")
	resctrlInterval    = flag.Duration("resctrl_interval", 0, "Resctrl mon groups updating interval. Zero value disables updating mon groups.")
	storageDuration    = flag.Duration("storage_duration", 2*time.Minute, "How long to keep data stored (Default: 2min).")
	storageDriver      = flag.String("storage_driver", "", "Storage `driver` to use besides the in-memory cache. Only <empty> in this stand-in (upstream: bigquery, elasticsearch, influxdb, kafka, redis, statsd, stdout).")
	httpAuthFile       = flag.String("http_auth_file", "", "HTTP auth file for the web UI (no web UI in this stand-in: must stay empty)")
	_                  = flag.String("http_auth_realm", "localhost", "HTTP auth realm for the web UI")
	httpDigestFile     = flag.String("http_digest_file", "", "HTTP digest file for the web UI (no web UI in this stand-in: must stay empty)")
	_                  = flag.String("http_digest_realm", "localhost", "HTTP digest file for the web UI")

	// upstream's defaults: these kinds are off unless enable_metrics names them
	disabledMetrics = container.MetricSet{
		container.MemoryNumaMetrics:              struct{}{},
		container.NetworkTcpUsageMetrics:         struct{}{},
		container.NetworkUdpUsageMetrics:         struct{}{},
		container.NetworkAdvancedTcpUsageMetrics: struct{}{},
		container.ProcessSchedulerMetrics:        struct{}{},
		container.ProcessMetrics:                 struct{}{},
		container.HugetlbUsageMetrics:            struct{}{},
		container.ReferencedMemoryMetrics:        struct{}{},
		container.CPUTopologyMetrics:             struct{}{},
		container.ResctrlMetrics:                 struct{}{},
		container.CPUSetMetrics:                  struct{}{},
	}
	enabledMetrics = container.MetricSet{}
)

func init() {
	kinds := container.AllMetrics.String()
	flag.Var(&disabledMetrics, "disable_metrics", fmt.Sprintf("comma-separated list of `metrics` to be disabled. Options are %s.", kinds))
	flag.Var(&enabledMetrics, "enable_metrics", fmt.Sprintf("comma-separated list of `metrics` to be enabled. If set, overrides 'disable_metrics'. Options are %s.", kinds))

	// the library leaves these seams nil (the kubelet's case); the cAdvisor binary fills them
	manager.PerfManagerFactory = perf.NewManager
	manager.ResctrlManagerFactory = func(interval time.Duration, vendorID string, inHostNamespace bool) (stats.ResctrlManager, error) {
		return resctrl.NewManager(interval, vendorID, inHostNamespace)
	}
	manager.SummaryReaderFactory = func(spec model.ContainerSpec) (manager.SummaryReader, error) {
		return summary.New(spec)
	}
	manager.CpuLoadReaderFactory = func() (manager.CpuLoadReader, error) { return cpuload.New() }
	manager.CollectorManagerFactory = appMetricsManager
}

func main() {
	klog.InitFlags(nil)
	defer klog.Flush()
	_ = flag.Set("v", "2") // upstream's default verbosity
	flag.Parse()

	if *printVersion {
		fmt.Printf("cAdvisor version %s (%s)\n", version.Info["version"], version.Info["revision"])
		os.Exit(0)
	}
	if *storageDriver != "" || *httpAuthFile != "" || *httpDigestFile != "" {
		klog.Fatalf("storage_driver, http_auth_file and http_digest_file are not supported by the devstack test bed's cAdvisor")
	}

	included := container.AllMetrics.Difference(disabledMetrics)
	if len(enabledMetrics) > 0 {
		included = enabledMetrics
	}
	klog.V(1).Infof("enabled metrics: %s", included.String())
	setMaxProcs()
	setCollectorTLS()

	m, err := manager.New(memory.New(*storageDuration, nil), sysfs.NewRealSysFs(), manager.HousekeepingConfigFlags,
		included, strings.Split(*rawCgroupWhitelist, ","), strings.Split(*envWhitelist, ","), *perfEventsConfig, *resctrlInterval)
	if err != nil {
		klog.Fatalf("Failed to create a manager: %s", err)
	}
	// events (container lifecycle, OOM) kept in memory under the event_storage_* limits, as upstream's API does
	em := events.NewEventManager(eventPolicy())
	m.SetEventSink(em)
	watchOOMs(em)

	mux := http.NewServeMux()
	if *profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc(validate.ValidatePage, func(w http.ResponseWriter, _ *http.Request) {
		if err := validate.HandleRequest(w, m); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the devstack test bed's cAdvisor serves /healthz, /validate/ and "+*prometheusEndpoint+
			" only (no web UI, no /api/)", http.StatusNotFound)
	})

	labels := metrics.DefaultContainerLabels
	if !*storeLabels {
		names := strings.Split(*whitelistedLabels, ",")
		for i := range names {
			names[i] = strings.TrimSpace(names[i])
		}
		labels = metrics.BaseContainerLabels(names)
	}
	servePrometheus(mux, m, labels, included)

	if err := m.Start(); err != nil {
		klog.Fatalf("Failed to start manager: %v", err)
	}
	stopOnSignal(m)
	klog.V(1).Infof("Starting cAdvisor version: %s-%s on port %d", version.Info["version"], version.Info["revision"], *port)

	root := http.NewServeMux()
	root.Handle(*urlBasePrefix+"/", http.StripPrefix(*urlBasePrefix, mux))
	klog.Fatal(http.ListenAndServe(fmt.Sprintf("%s:%d", *listenIP, *port), root))
}

// servePrometheus answers the endpoint as upstream's binary: the container collector (latest sample of every
// container, recursively, with OOM counts from the kernel-log watcher), the machine collector, and the Go and
// process collectors of cAdvisor itself; `type`, `max_age` query parameters as upstream.
func servePrometheus(mux *http.ServeMux, m manager.Manager, labels metrics.ContainerLabelsFunc, included container.MetricSet) {
	goCollector := collectors.NewGoCollector()
	processCollector := collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	machineCollector := metrics.NewPrometheusMachineCollector(m, included)
	withOOMs := &oomCounting{Manager: m}
	mux.Handle(*prometheusEndpoint, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		opts, err := requestOptions(req)
		if err != nil {
			http.Error(w, "No metrics gathered, last error:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		opts.Count, opts.Recursive = 1, true
		reg := prometheus.NewRegistry()
		reg.MustRegister(metrics.NewPrometheusCollector(withOOMs, labels, included, clock.RealClock{}, opts),
			machineCollector, goCollector, processCollector)
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, req)
	}))
}

func requestOptions(r *http.Request) (model.RequestOptions, error) {
	opts := model.RequestOptions{IdType: model.TypeName, Count: 64}
	q := r.URL.Query()
	switch t := q.Get("type"); t {
	case "":
	case model.TypeName, model.TypeDocker, model.TypePodman:
		opts.IdType = t
	default:
		return opts, fmt.Errorf("unknown 'type' %q", t)
	}
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -1 {
			return opts, fmt.Errorf("invalid 'count' option %q", s)
		}
		opts.Count = n
	}
	opts.Recursive = q.Get("recursive") == "true"
	if s := q.Get("max_age"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return opts, fmt.Errorf("failed to parse 'max_age' option: %v", err)
		}
		opts.MaxAge = &d
	}
	return opts, nil
}

// OOM kills read from the kernel log (/dev/kmsg), counted per memory cgroup: the library's manager reports no
// OOM counts itself, the binary does (container_oom_events_total). Without /dev/kmsg the count stays 0.
var oomCounts = struct {
	sync.Mutex
	n map[string]uint64
}{n: map[string]uint64{}}

func watchOOMs(em events.EventManager) {
	parser, err := oomparser.New()
	if err != nil {
		klog.Warningf("Could not configure a source for OOM detection, disabling OOM events: %v", err)
		return
	}
	ooms := make(chan *oomparser.OomInstance, 10)
	go parser.StreamOoms(ooms)
	go func() {
		for o := range ooms {
			_ = em.AddEvent(&model.Event{ContainerName: o.ContainerName, Timestamp: o.TimeOfDeath, EventType: model.EventOom})
			_ = em.AddEvent(&model.Event{
				ContainerName: o.VictimContainerName, Timestamp: o.TimeOfDeath, EventType: model.EventOomKill,
				EventData: model.EventData{OomKill: &model.OomKillEventData{Pid: o.Pid, ProcessName: o.ProcessName, Constraint: o.Constraint}},
			})
			oomCounts.Lock()
			oomCounts.n[o.ContainerName]++
			oomCounts.Unlock()
		}
	}()
}

type oomCounting struct{ manager.Manager }

func (p *oomCounting) GetRequestedContainersInfo(name string, opts model.RequestOptions) (map[string]*model.ContainerInfo, error) {
	infos, err := p.Manager.GetRequestedContainersInfo(name, opts)
	oomCounts.Lock()
	defer oomCounts.Unlock()
	for _, ci := range infos {
		for _, s := range ci.Stats {
			s.OOMEvents = oomCounts.n[ci.Name]
		}
	}
	return infos, err
}

func eventPolicy() events.StoragePolicy {
	policy := events.DefaultStoragePolicy()
	for _, kv := range strings.Split(manager.EventStorageAgeLimit(), ",") {
		k, v, ok := strings.Cut(kv, "=")
		d, err := time.ParseDuration(v)
		if !ok || err != nil {
			klog.Warningf("Unknown event storage policy %q when parsing max age", kv)
			continue
		}
		if k == "default" {
			policy.DefaultMaxAge = d
		} else {
			policy.PerTypeMaxAge[model.EventType(k)] = d
		}
	}
	for _, kv := range strings.Split(manager.EventStorageEventLimit(), ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			klog.Warningf("Unknown event storage policy %q when parsing max event limit", kv)
			continue
		}
		if k == "default" {
			policy.DefaultMaxNumEvents = n
		} else {
			policy.PerTypeMaxNumEvents[model.EventType(k)] = n
		}
	}
	return policy
}

// application metrics: collectors a container declares through its labels (io.cadvisor.metric.*)
var collectorHTTP = &http.Client{}

func setCollectorTLS() {
	tlsConfig, err := collectorTLSConfig(*collectorCert, *collectorKey)
	if err != nil {
		klog.Fatal(err)
	}
	collectorHTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
}

// as upstream: collector endpoints are often self-signed, so their certificates are not verified; with
// collector_cert/collector_key cAdvisor presents a client certificate
func collectorTLSConfig(cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec
	if cert == "" {
		return cfg, nil
	}
	if key == "" {
		return nil, fmt.Errorf("the collector_key value must be specified if the collector_cert value is set")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("failed to use the collector certificate and key: %s", err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg, nil
}

func appMetricsManager(h container.ContainerHandler, readFile func(string) ([]byte, error)) (manager.CollectorManager, error) {
	cm, err := collector.NewCollectorManager()
	if err != nil {
		return nil, err
	}
	for name, path := range collector.GetCollectorConfigs(h.GetContainerLabels()) {
		conf, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read config %q for collector %q: %v", path, name, err)
		}
		limit := manager.ApplicationMetricsCountLimit()
		var c collector.Collector
		if strings.HasPrefix(strings.ToLower(name), "prometheus") {
			c, err = collector.NewPrometheusCollector(name, conf, limit, h, collectorHTTP)
		} else {
			c, err = collector.NewCollector(name, conf, limit, h, collectorHTTP)
		}
		if err != nil {
			return nil, fmt.Errorf("failed to create collector %q: %v", name, err)
		}
		if err := cm.RegisterCollector(c); err != nil {
			return nil, fmt.Errorf("failed to register collector %q: %v", name, err)
		}
	}
	return cm, nil
}

func setMaxProcs() {
	n := *maxProcs
	if n < 1 {
		n = runtime.NumCPU()
	}
	runtime.GOMAXPROCS(n)
	if got := runtime.GOMAXPROCS(0); got != n {
		klog.Warningf("Specified max procs of %v but using %v", n, got)
	}
}

func stopOnSignal(m manager.Manager) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-c
		if err := m.Stop(); err != nil {
			klog.Errorf("Failed to stop container manager: %v", err)
		}
		klog.Infof("Exiting given signal: %v", sig)
		os.Exit(0)
	}()
}
