package io.zte.client;

import events.v1.Events.OrderCreated;
import java.util.Map;

/**
 * A record whose token, hash and claims all checked out.
 *
 * @param order the decoded event
 * @param claims the event token's claims
 * @param payloadHash lowercase hex SHA-256 of the payload bytes as received
 */
public record VerifiedEvent(OrderCreated order, Map<String, Object> claims, String payloadHash) {}
