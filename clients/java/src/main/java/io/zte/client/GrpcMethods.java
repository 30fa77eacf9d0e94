package io.zte.client;

import com.google.protobuf.Descriptors.ServiceDescriptor;
import com.google.protobuf.Message;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;

/**
 * Unary gRPC methods built from the generated service descriptors (what protoc-gen-grpc-java
 * would generate as constants), for {@code io.grpc.stub.ClientCalls}:
 *
 * <pre>{@code
 * var createOrder = GrpcMethods.unary(Orders.getDescriptor().findServiceByName("OrdersService"),
 *     "CreateOrder", CreateOrderRequest.getDefaultInstance(), CreateOrderResponse.getDefaultInstance());
 * var response = ClientCalls.blockingUnaryCall(channel, createOrder, CallOptions.DEFAULT, request);
 * }</pre>
 */
public final class GrpcMethods {
  private GrpcMethods() {}

  /**
   * The unary method {@code name} of {@code service}, whose request and response must be the
   * given message types.
   *
   * @throws IllegalArgumentException if the service has no such unary method with these types
   */
  public static <Q extends Message, R extends Message> MethodDescriptor<Q, R> unary(
      ServiceDescriptor service, String name, Q request, R response) {
    var method = service.findMethodByName(name);
    if (method == null || method.isClientStreaming() || method.isServerStreaming()) {
      throw new IllegalArgumentException(service.getFullName() + " has no unary method " + name);
    }
    if (!method.getInputType().equals(request.getDescriptorForType())
        || !method.getOutputType().equals(response.getDescriptorForType())) {
      throw new IllegalArgumentException(
          method.getFullName()
              + " takes "
              + method.getInputType().getFullName()
              + " and returns "
              + method.getOutputType().getFullName());
    }
    return MethodDescriptor.<Q, R>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName(
            MethodDescriptor.generateFullMethodName(service.getFullName(), method.getName()))
        .setRequestMarshaller(ProtoUtils.marshaller(request))
        .setResponseMarshaller(ProtoUtils.marshaller(response))
        .build();
  }
}
