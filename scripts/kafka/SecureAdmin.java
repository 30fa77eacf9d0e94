// Topic and ACL administration of the secure broker in one JVM and one round trip each, for
// scripts/kafka.sh (acl-grant, acl-list). kafka-acls.sh (AclCommand) needs one JVM per
// principal/operation cross product and lists after every change, several seconds apiece;
// the tests call this once per test with fresh names. rust-rdkafka 0.39 has no ACL API.
//
//   java SecureAdmin BOOTSTRAP CLIENT_CONFIG grant [--topic NAME PARTITIONS]...
//                                                  [--allow PRINCIPAL TYPE NAME OPERATION]...
//   java SecureAdmin BOOTSTRAP CLIENT_CONFIG list
//
// TYPE is a ResourceType (topic, group, cluster, transactional_id), OPERATION an AclOperation
// (read, write, describe, ...); every binding is LITERAL, ALLOW, any host. Existing topics and
// ACLs are left as they are, so a grant can be repeated.

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public final class SecureAdmin {
    private SecureAdmin() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            usage();
        }
        Properties config = new Properties();
        try (InputStream in = new FileInputStream(args[1])) {
            config.load(in);
        }
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(config)) {
            switch (args[2]) {
                case "grant" -> grant(admin, args);
                case "list" -> admin.describeAcls(AclBindingFilter.ANY).values().get()
                        .forEach(binding -> System.out.println(describe(binding)));
                default -> usage();
            }
        }
    }

    private static void grant(Admin admin, String[] args) throws Exception {
        List<NewTopic> topics = new ArrayList<>();
        List<AclBinding> acls = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            switch (args[i]) {
                case "--topic" -> {
                    need(args, i, 2);
                    topics.add(new NewTopic(args[i + 1], Integer.parseInt(args[i + 2]), (short) 1));
                    i += 2;
                }
                case "--allow" -> {
                    need(args, i, 4);
                    ResourcePattern resource = new ResourcePattern(
                            ResourceType.fromString(args[i + 2].toUpperCase(Locale.ROOT)), args[i + 3],
                            PatternType.LITERAL);
                    AclOperation operation = AclOperation.fromString(args[i + 4].toUpperCase(Locale.ROOT));
                    if (resource.isUnknown() || operation == AclOperation.UNKNOWN) {
                        throw new IllegalArgumentException("unknown resource type or operation in --allow "
                                + String.join(" ", args[i + 1], args[i + 2], args[i + 3], args[i + 4]));
                    }
                    acls.add(new AclBinding(resource,
                            new AccessControlEntry(args[i + 1], "*", operation, AclPermissionType.ALLOW)));
                    i += 4;
                }
                default -> usage();
            }
        }
        if (!topics.isEmpty()) {
            for (var created : admin.createTopics(topics).values().entrySet()) {
                try {
                    created.getValue().get();
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new IOException("creating topic " + created.getKey() + ": " + e.getCause(), e);
                    }
                }
            }
        }
        if (!acls.isEmpty()) {
            admin.createAcls(acls).all().get();
        }
        for (AclBinding binding : acls) {
            System.out.println("allowed " + describe(binding));
        }
    }

    private static String describe(AclBinding binding) {
        AccessControlEntry entry = binding.entry();
        ResourcePattern pattern = binding.pattern();
        return String.format("%s %s %s on %s %s (%s)", entry.principal(),
                entry.permissionType().name().toLowerCase(Locale.ROOT),
                entry.operation().name().toLowerCase(Locale.ROOT),
                pattern.resourceType().name().toLowerCase(Locale.ROOT), pattern.name(),
                pattern.patternType().name().toLowerCase(Locale.ROOT));
    }

    private static void need(String[] args, int at, int count) {
        if (at + count >= args.length) {
            usage();
        }
    }

    private static void usage() {
        System.err.println("usage: SecureAdmin BOOTSTRAP CLIENT_CONFIG grant [--topic NAME PARTITIONS]..."
                + " [--allow PRINCIPAL TYPE NAME OPERATION]... | list");
        System.exit(2);
    }
}
