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
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new(attr.span(), "`#[http_service]` takes no arguments")
            .to_compile_error()
            .into();
    }
    let func = parse_macro_input!(item as ItemFn);
    match expand(&func) {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            // Keep the function so the only errors reported are ours.
            let err = err.to_compile_error();
            quote!(#func #err).into()
        }
    }
}

const USAGE: &str = "expected `fn handle(req: wharf_sdk::http::Request) -> Response` \
                     (or `-> Result<Response, E>` where `E: Display`)";

fn expand(func: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let sig = &func.sig;
    if let Some(asyncness) = &sig.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            "`#[http_service]` handlers cannot be `async`; write a plain `fn` \
             (the SDK's body and client APIs are blocking)",
        ));
    }
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "`#[http_service]` handlers cannot be `const`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new(
            unsafety.span(),
            "`#[http_service]` handlers cannot be `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            "`#[http_service]` handlers cannot declare an ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "`#[http_service]` handlers cannot be generic",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(variadic.span(), USAGE));
    }
    let arg_ty = match sig.inputs.len() {
        1 => match sig.inputs.first() {
            Some(FnArg::Typed(pat_ty)) => &pat_ty.ty,
            Some(FnArg::Receiver(recv)) => {
                return Err(syn::Error::new(
                    recv.span(),
                    "`#[http_service]` must be on a free function, not a method",
                ));
            }
            None => return Err(syn::Error::new(sig.inputs.span(), USAGE)),
        },
        0 => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("the handler must take the request as its only argument; {USAGE}"),
            ));
        }
        _ => {
            return Err(syn::Error::new(
                sig.inputs.span(),
                format!("the handler must take exactly one argument; {USAGE}"),
            ));
        }
    };
    let ret_span = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.ident.span(),
                format!("the handler must return a response; {USAGE}"),
            ));
        }
        ReturnType::Type(_, ty) => ty.span(),
    };

    let ident = &sig.ident;
    // Spanned so type errors point at the user's argument / return type.
    let call = quote_spanned! {arg_ty.span()=>
        #ident(::wharf_sdk::__private::request(request))
    };
    let respond = quote_spanned! {ret_span=>
        ::wharf_sdk::__private::respond(response_out, result)
    };
    let service = syn::Ident::new("__WharfHttpService", Span::call_site());

    Ok(quote! {
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
    })
}
