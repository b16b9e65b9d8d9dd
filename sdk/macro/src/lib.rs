//! Procedural macros for [`wharf-sdk`](https://example.invalid/wharf).
//!
//! Use them through the re-exports in `wharf_sdk` (e.g.
//! `#[wharf_sdk::http_service]`); this crate is an implementation detail.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, parse_macro_input};

/// Turns a `fn(Request) -> Response` (or `-> Result<Response, E>` with
/// `E: Display`) into the component's `wasi:http/incoming-handler` export.
///
/// See `wharf_sdk::http_service` for documentation.
#[proc_macro_attribute]
pub fn http_service(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(Kind::Http, attr, item)
}

/// Turns a `fn(Message) -> Result<(), E>` (`E: Display`, or `-> ()`) into
/// the component's `wasmcloud:messaging/handler` export.
///
/// See `wharf_sdk::message_handler` for documentation.
#[proc_macro_attribute]
pub fn message_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(Kind::Message, attr, item)
}

/// Which export an attribute generates.
#[derive(Clone, Copy)]
enum Kind {
    Http,
    Message,
}

impl Kind {
    /// The attribute as the user writes it, for error messages.
    fn attr(self) -> &'static str {
        match self {
            Kind::Http => "`#[http_service]`",
            Kind::Message => "`#[message_handler]`",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Kind::Http => {
                "expected `fn handle(req: wharf_sdk::http::Request) -> Response` \
                 (or `-> Result<Response, E>` where `E: Display`)"
            }
            Kind::Message => {
                "expected `fn on_message(msg: wharf_sdk::messaging::Message) -> Result<(), E>` \
                 where `E: Display`"
            }
        }
    }

    /// What the single argument is, for error messages.
    fn argument(self) -> &'static str {
        match self {
            Kind::Http => "the request",
            Kind::Message => "the message",
        }
    }
}

fn attribute(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new(attr.span(), format!("{} takes no arguments", kind.attr()))
            .to_compile_error()
            .into();
    }
    let func = parse_macro_input!(item as ItemFn);
    match expand(kind, &func) {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            // Keep the function so the only errors reported are ours.
            let err = err.to_compile_error();
            quote!(#func #err).into()
        }
    }
}

/// Checks the handler's signature; returns its argument type's span and,
/// when it declares one, its return type's span.
fn check_signature(kind: Kind, func: &ItemFn) -> syn::Result<(Span, Option<Span>)> {
    let sig = &func.sig;
    let attr = kind.attr();
    let usage = kind.usage();
    if let Some(asyncness) = &sig.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            format!(
                "{attr} handlers cannot be `async`; write a plain `fn` \
                 (the SDK's APIs are blocking)"
            ),
        ));
    }
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            format!("{attr} handlers cannot be `const`"),
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new(
            unsafety.span(),
            format!("{attr} handlers cannot be `unsafe`"),
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            format!("{attr} handlers cannot declare an ABI"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{attr} handlers cannot be generic"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(variadic.span(), usage));
    }
    let arg_span = match sig.inputs.len() {
        1 => match sig.inputs.first() {
            Some(FnArg::Typed(pat_ty)) => pat_ty.ty.span(),
            Some(FnArg::Receiver(recv)) => {
                return Err(syn::Error::new(
                    recv.span(),
                    format!("{attr} must be on a free function, not a method"),
                ));
            }
            None => return Err(syn::Error::new(sig.inputs.span(), usage)),
        },
        0 => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!(
                    "the handler must take {} as its only argument; {usage}",
                    kind.argument()
                ),
            ));
        }
        _ => {
            return Err(syn::Error::new(
                sig.inputs.span(),
                format!("the handler must take exactly one argument; {usage}"),
            ));
        }
    };
    let ret_span = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty.span()),
    };
    Ok((arg_span, ret_span))
}

fn expand(kind: Kind, func: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let (arg_span, ret_span) = check_signature(kind, func)?;
    match kind {
        Kind::Http => {
            let Some(ret_span) = ret_span else {
                return Err(syn::Error::new(
                    func.sig.ident.span(),
                    format!("the handler must return a response; {}", kind.usage()),
                ));
            };
            Ok(expand_http(func, arg_span, ret_span))
        }
        Kind::Message => Ok(expand_message(
            func,
            arg_span,
            ret_span.unwrap_or_else(|| func.sig.ident.span()),
        )),
    }
}

fn expand_http(func: &ItemFn, arg_span: Span, ret_span: Span) -> proc_macro2::TokenStream {
    let ident = &func.sig.ident;
    // Spanned so type errors point at the user's argument / return type.
    let call = quote_spanned! {arg_span=>
        #ident(::wharf_sdk::__private::request(request))
    };
    let respond = quote_spanned! {ret_span=>
        ::wharf_sdk::__private::respond(response_out, result)
    };
    let service = syn::Ident::new("__WharfHttpService", Span::call_site());

    quote! {
        #func

        const _: () = {
            #[doc(hidden)]
            struct #service;

            impl ::wharf_sdk::__private::IncomingHandler for #service {
                fn handle(
                    request: ::wharf_sdk::__private::IncomingRequest,
                    response_out: ::wharf_sdk::__private::ResponseOutparam,
                ) {
                    let result = #call;
                    #respond;
                }
            }

            ::wharf_sdk::__private::export!(#service with_types_in ::wharf_sdk::bindings);
        };
    }
}

fn expand_message(func: &ItemFn, arg_span: Span, ret_span: Span) -> proc_macro2::TokenStream {
    let ident = &func.sig.ident;
    let call = quote_spanned! {arg_span=>
        #ident(::wharf_sdk::__private::messaging::message(msg))
    };
    let finish = quote_spanned! {ret_span=>
        ::wharf_sdk::__private::messaging::finish(result)
    };
    let handler = syn::Ident::new("__WharfMessageHandler", Span::call_site());

    quote! {
        #func

        const _: () = {
            #[doc(hidden)]
            struct #handler;

            impl ::wharf_sdk::__private::messaging::MessageHandler for #handler {
                fn handle_message(
                    msg: ::wharf_sdk::__private::messaging::BrokerMessage,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    let result = #call;
                    #finish
                }
            }

            ::wharf_sdk::__private::messaging::export!(
                #handler with_types_in ::wharf_sdk::handler_bindings
            );
        };
    }
}
