package shop

import (
	"strings"
	"time"
)

// Topics of the example (see the package doc).
const (
	TopicOrders    = "orders"
	TopicInventory = "inventory"
	TopicPayments  = "payments"
	TopicShipping  = "shipping"
	TopicCatalog   = "catalog"
	TopicStatus    = "order-status"

	TopicInventoryCommands = "inventory-commands"
	TopicPaymentCommands   = "payment-commands"
	TopicShippingCommands  = "shipping-commands"
	TopicSagaReplies       = "order-saga-replies"

	// TopicUnpaid receives the fraud service's unpaid orders (plain JSON
	// UnpaidOrder records, keyed like the orders topic), which orders
	// cancels.
	TopicUnpaid = "unpaid-orders"
)

// Topics lists every topic the example uses; Catalog is compacted.
var Topics = []string{
	TopicOrders, TopicInventory, TopicPayments, TopicShipping, TopicCatalog, TopicStatus,
	TopicInventoryCommands, TopicPaymentCommands, TopicShippingCommands, TopicSagaReplies, TopicUnpaid,
}

// Event types.
const (
	OrderPlacedType    = "order.placed"
	OrderPaidType      = "order.paid"
	OrderShippedType   = "order.shipped"
	OrderCancelledType = "order.cancelled"
	OrderRejectedType  = "order.rejected"

	StockReservedType    = "stock.reserved"
	StockUnavailableType = "stock.unavailable"
	StockReleasedType    = "stock.released"

	PaymentChargedType  = "payment.charged"
	PaymentDeclinedType = "payment.declined"
	PaymentRefundedType = "payment.refunded"

	ShipmentShippedType = "shipment.shipped"
	ProductListedType   = "product.listed"
	OrderStatusType     = "order.status"

	// The orchestrated saga's commands.
	ReserveStockCommand  = "stock.reserve"
	ReleaseStockCommand  = "stock.release"
	ChargeCommand        = "payment.charge"
	RefundCommand        = "payment.refund"
	ShipCommand          = "shipping.ship"
	StockReleasedReply   = StockReleasedType
	PaymentRefundedReply = PaymentRefundedType
)

// Item is one line of an order. Prices are in cents.
type Item struct {
	SKU   string `json:"sku"`
	Qty   int64  `json:"qty"`
	Price int64  `json:"price"`
}

// OrderPlaced is order.placed, and the saga's input.
type OrderPlaced struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"`
	Card     string `json:"card"`
	Items    []Item `json:"items"`
	Total    int64  `json:"total"`
}

// OrderPlacedV2 is order.placed as its schema's version 2 has it: v1
// and the channel the order came through, an optional field whose
// default is DefaultChannel. Consumers built for v1 decode it into
// OrderPlaced, which has no channel; a consumer with the v2 reader
// schema (OrderPlacedV2Schema) reads a v1 event's channel as the default.
type OrderPlacedV2 struct {
	OrderPlaced
	Channel string `json:"channel"`
}

// DefaultChannel is the channel of order.placed v2's default: every v1
// order came through the web shop.
const DefaultChannel = "web"

// OrderPaid is order.paid.
type OrderPaid struct {
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
	ChargeID string `json:"charge_id"`
}

// OrderShipped is order.shipped.
type OrderShipped struct {
	OrderID  string `json:"order_id"`
	Tracking string `json:"tracking"`
}

// OrderEnded is order.cancelled and order.rejected.
type OrderEnded struct {
	OrderID string `json:"order_id"`
	Reason  string `json:"reason"`
}

// StockReserved is stock.reserved; it carries the order, so that payment
// needs no other event to charge it.
type StockReserved struct {
	Order OrderPlaced `json:"order"`
}

// StockUnavailable is stock.unavailable.
type StockUnavailable struct {
	OrderID string `json:"order_id"`
	SKU     string `json:"sku"`
	Reason  string `json:"reason"`
}

// StockReleased is stock.released.
type StockReleased struct {
	OrderID string `json:"order_id"`
}

// Payment is payment.charged, payment.declined and payment.refunded
// (Avro).
type Payment struct {
	OrderID  string `json:"order_id" avro:"order_id"`
	Amount   int64  `json:"amount" avro:"amount"`
	ChargeID string `json:"charge_id" avro:"charge_id"`
	Status   string `json:"status" avro:"status"` // charged, declined, refunded, void
	Reason   string `json:"reason" avro:"reason"`
}

// ShipmentShipped is shipment.shipped.
type ShipmentShipped struct {
	OrderID  string `json:"order_id"`
	Tracking string `json:"tracking"`
}

// Product is product.listed, keyed by SKU on the compacted catalog topic.
// Stock is the stock inventory starts the product with.
type Product struct {
	SKU   string `json:"sku"`
	Name  string `json:"name"`
	Price int64  `json:"price"`
	Stock int64  `json:"stock"`
}

// OrderStatus is order.status, what notification publishes for browsers.
type OrderStatus struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// Order statuses, in the read model and in order.status.
const (
	StatusPlaced    = "placed"
	StatusPaid      = "paid"
	StatusShipped   = "shipped"
	StatusCancelled = "cancelled"
	StatusRejected  = "rejected"
)

// Final reports whether an order in status s is done with.
func Final(s string) bool {
	return s == StatusShipped || s == StatusCancelled || s == StatusRejected
}

// UnpaidOrder is an order that was not paid (nor ended) within the fraud
// service's unpaid timeout: a record of TopicUnpaid, keyed by the order's
// stream, which the orders service takes as a command to cancel it.
type UnpaidOrder struct {
	OrderID  string    `json:"order_id"`
	Customer string    `json:"customer"`
	PlacedAt time.Time `json:"placed_at"` // the order.placed record's time
	Deadline time.Time `json:"deadline"`  // PlacedAt plus the timeout
}

// unpaidReason starts the reason of every order cancelled as unpaid.
const unpaidReason = "not paid within "

// Reason is the cancellation reason of an unpaid order.
func (u UnpaidOrder) Reason() string { return unpaidReason + u.Deadline.Sub(u.PlacedAt).String() }

// IsUnpaidReason reports whether reason is that of an order cancelled as
// unpaid.
func IsUnpaidReason(reason string) bool { return strings.HasPrefix(reason, unpaidReason) }
