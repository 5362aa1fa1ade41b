package shop

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
)

// Topics lists every topic the example uses; Catalog is compacted.
var Topics = []string{
	TopicOrders, TopicInventory, TopicPayments, TopicShipping, TopicCatalog, TopicStatus,
	TopicInventoryCommands, TopicPaymentCommands, TopicShippingCommands, TopicSagaReplies,
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
